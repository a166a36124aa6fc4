// relay/ctl/absl_strings.h — base/absl_strings.h's adapters, in relay/ctl's
// namespace.
#ifndef RINGPOST_RELAY_CTL_ABSL_STRINGS_H_
#define RINGPOST_RELAY_CTL_ABSL_STRINGS_H_

#include "base/absl_strings.h"

namespace ringpost::ctl {

using base::Av;
using base::Cat;
using base::CatAppend;
using base::Sv;

}  // namespace ringpost::ctl

#endif  // RINGPOST_RELAY_CTL_ABSL_STRINGS_H_
