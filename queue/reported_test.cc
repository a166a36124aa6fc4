// reported_test.cc — recovery counts what a notice reports on as done.
#include "queue/reported.h"

#include "gtest/gtest.h"

namespace ringpost::queue {
namespace {

RecoveredMessage Message(uint64_t id, size_t rcpts, uint64_t seq) {
  RecoveredMessage m;
  m.locator.segment_seq = seq;
  m.locator.message_id = id;
  m.record.id = id;
  for (size_t i = 0; i < rcpts; ++i) m.record.recipients.push_back("r" + std::to_string(i) + "@x.test");
  m.done.assign(rcpts, false);
  return m;
}

RecoveredMessage Notice(uint64_t id, uint64_t about, std::vector<uint32_t> rcpts) {
  RecoveredMessage m = Message(id, 1, 9);
  m.record.reports_on_id = about;
  m.record.reports_on_rcpts = std::move(rcpts);
  return m;
}

TEST(MarkReportedDone, NothingWithoutNotices) {
  std::vector<RecoveredMessage> r = {Message(1, 3, 1), Message(2, 1, 1)};
  EXPECT_TRUE(MarkReportedDone(r).empty());
  EXPECT_EQ(r[0].done, std::vector<bool>({false, false, false}));
}

TEST(MarkReportedDone, ANoticeRetiresWhatItNames) {
  // The notice may come first (another segment recovered earlier).
  std::vector<RecoveredMessage> r = {Notice(7, 1, {0, 2}), Message(1, 3, 1)};
  r[1].done[2] = true;  // journaled before the crash
  const std::vector<ReportedRecipient> got = MarkReportedDone(r);
  ASSERT_EQ(got.size(), 1u);  // recipient 2 was already done
  EXPECT_EQ(got[0].locator, r[1].locator);
  EXPECT_EQ(got[0].recipient, 0u);
  EXPECT_EQ(r[1].done, std::vector<bool>({true, false, true}));
  EXPECT_EQ(r[0].done, std::vector<bool>({false}));  // the notice itself is still mail
}

TEST(MarkReportedDone, OriginalsGoneOrIndicesOutOfRangeAreIgnored) {
  std::vector<RecoveredMessage> r = {Notice(7, 42, {0}), Notice(8, 1, {5, 1}), Message(1, 2, 1)};
  const std::vector<ReportedRecipient> got = MarkReportedDone(r);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].recipient, 1u);
  EXPECT_EQ(r[2].done, std::vector<bool>({false, true}));
}

TEST(MarkReportedDone, ShortDoneVectorsGrow) {
  std::vector<RecoveredMessage> r = {Message(1, 3, 1), Notice(7, 1, {2})};
  r[0].done.clear();
  ASSERT_EQ(MarkReportedDone(r).size(), 1u);
  EXPECT_EQ(r[0].done, std::vector<bool>({false, false, true}));
}

}  // namespace
}  // namespace ringpost::queue
