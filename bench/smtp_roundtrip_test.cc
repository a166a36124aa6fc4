// bench/smtp_roundtrip_test.cc — loadgen against sink, both in this process
// on their own io_uring loops over loopback: every mode of sending (DATA,
// pipelined DATA, BDAT back to back) must deliver exactly what both sides
// count, with the same set of test ids, and injected faults must show up on
// both sides as the same numbers.
#include <algorithm>
#include <string>
#include <vector>

#include "bench/loadgen.h"
#include "bench/roundtrip.h"
#include "bench/sink.h"
#include "gtest/gtest.h"

namespace ringpost::bench {
namespace {


LoadgenOptions Load(uint64_t messages, int connections) {
  LoadgenOptions o;
  o.messages = messages;
  o.connections = connections;
  return o;
}

void ExpectSameIds(RunResult& run) {
  std::sort(run.lg.accepted_ids.begin(), run.lg.accepted_ids.end());
  std::sort(run.sink_ids.begin(), run.sink_ids.end());
  EXPECT_EQ(run.lg.accepted_ids.size(), run.lg.accepted);
  EXPECT_TRUE(run.lg.accepted_ids == run.sink_ids);
  EXPECT_TRUE(std::adjacent_find(run.sink_ids.begin(), run.sink_ids.end()) ==
              run.sink_ids.end())
      << "duplicate ids";
}

void ExpectAllDelivered(RunResult& run, uint64_t n) {
  EXPECT_TRUE(run.lg.AllAccepted());
  EXPECT_EQ(run.lg.accepted, n);
  EXPECT_EQ(run.lg.attempted, n);
  EXPECT_EQ(run.lg.errors, 0u);
  EXPECT_EQ(run.sink.messages, n);
  EXPECT_EQ(run.lg.latency_us.count(), n);
  ExpectSameIds(run);
}

TEST(SmtpRoundTripTest, DataOneAtATime) {
  RunResult run = RoundTrip(SinkOptions(), Load(2000, 4));
  ExpectAllDelivered(run, 2000);
  EXPECT_EQ(run.sink.bytes, 2000u * 1024u);
  EXPECT_EQ(run.sink.bdat_chunks, 0u);
  EXPECT_EQ(run.sink.connections, 4u);
}

TEST(SmtpRoundTripTest, PipelinedDataInflight8) {
  LoadgenOptions lo = Load(2000, 4);
  lo.inflight = 8;
  RunResult run = RoundTrip(SinkOptions(), lo);
  ExpectAllDelivered(run, 2000);
}

TEST(SmtpRoundTripTest, ChunkingInflight8) {
  LoadgenOptions lo = Load(2000, 4);
  lo.chunking = true;
  lo.inflight = 8;
  lo.size = 5000;
  RunResult run = RoundTrip(SinkOptions(), lo);
  ExpectAllDelivered(run, 2000);
  EXPECT_EQ(run.sink.bdat_chunks, 2000u);
  EXPECT_EQ(run.sink.bytes, 2000u * 5000u);
}

TEST(SmtpRoundTripTest, TwoThreadsEachSideManyRecipients) {
  SinkOptions so;
  so.threads = 2;
  LoadgenOptions lo = Load(2000, 6);
  lo.threads = 2;
  lo.recipients = 3;
  lo.rcpt_domains = {"a.example", "b.example"};
  lo.chunking = true;
  lo.inflight = 4;
  RunResult run = RoundTrip(so, lo);
  ExpectAllDelivered(run, 2000);
  EXPECT_EQ(run.sink.recipients, 6000u);
}

TEST(SmtpRoundTripTest, AllPermanentFailures) {
  SinkOptions so;
  so.fail_5xx = 1.0;
  for (bool chunking : {false, true}) {
    LoadgenOptions lo = Load(2000, 4);
    lo.chunking = chunking;
    lo.inflight = 8;
    RunResult run = RoundTrip(so, lo);
    EXPECT_FALSE(run.lg.AllAccepted());
    EXPECT_EQ(run.lg.accepted, 0u);
    EXPECT_EQ(run.lg.rejected_5xx, 2000u);
    EXPECT_EQ(run.lg.errors, 0u);
    EXPECT_EQ(run.sink.messages, 0u);
    EXPECT_EQ(run.sink.rejected_5xx, 2000u);
    EXPECT_TRUE(run.lg.accepted_ids.empty());
  }
}

TEST(SmtpRoundTripTest, MixedFaultsAgreeOnBothSides) {
  SinkOptions so;
  so.fail_4xx = 0.2;
  so.fail_5xx = 0.1;
  so.drop = 0.02;
  so.fail_rcpt_5xx = 0.1;
  so.seed = 7;
  for (bool chunking : {false, true}) {
    LoadgenOptions lo = Load(2000, 4);
    lo.chunking = chunking;
    lo.inflight = 8;
    lo.recipients = 2;
    RunResult run = RoundTrip(so, lo);
    EXPECT_FALSE(run.lg.AllAccepted());
    EXPECT_GT(run.lg.accepted, 0u);
    EXPECT_EQ(run.lg.accepted, run.sink.messages);
    EXPECT_EQ(run.lg.rejected_4xx, run.sink.rejected_4xx);
    EXPECT_GT(run.sink.dropped, 0u);
    EXPECT_GE(run.lg.errors, run.sink.dropped);
    EXPECT_EQ(run.lg.accepted + run.lg.rejected_4xx + run.lg.rejected_5xx + run.lg.errors,
              run.lg.attempted);
    EXPECT_EQ(run.lg.attempted, 2000u);
    ExpectSameIds(run);
  }
}

TEST(SmtpRoundTripTest, FirstAttemptFailsThenSucceeds) {
  SinkOptions so;
  so.listen = "127.0.0.1:0";
  so.fail_first_attempt_4xx = true;
  auto sink = Sink::Start(so);
  ASSERT_TRUE(sink.ok());
  LoadgenOptions lo = Load(300, 3);
  lo.target = "127.0.0.1:" + std::to_string((*sink)->port());
  lo.id_prefix = "retry";
  lo.inflight = 4;
  auto first = Loadgen::Start(lo);
  ASSERT_TRUE(first.ok());
  const LoadgenResult a = (*first)->Wait();
  EXPECT_EQ(a.rejected_4xx, 300u);
  EXPECT_EQ(a.accepted, 0u);
  auto second = Loadgen::Start(lo);
  ASSERT_TRUE(second.ok());
  const LoadgenResult b = (*second)->Wait();
  EXPECT_EQ(b.accepted, 300u);
  EXPECT_TRUE(b.AllAccepted());
  EXPECT_EQ((*sink)->Counts().messages, 300u);
  EXPECT_EQ((*sink)->Counts().rejected_4xx, 300u);
}

TEST(SmtpRoundTripTest, RateLimitPacesMessages) {
  LoadgenOptions lo = Load(200, 2);
  lo.rate = 1000;
  RunResult run = RoundTrip(SinkOptions(), lo);
  ExpectAllDelivered(run, 200);
  EXPECT_GE(run.lg.seconds, 0.18);
  EXPECT_LT(run.lg.seconds, 2.0);
}

TEST(SmtpRoundTripTest, DurationEndsAnOpenEndedRun) {
  LoadgenOptions lo = Load(uint64_t{1} << 40, 2);
  lo.duration_s = 1;
  lo.rate = 2000;
  RunResult run = RoundTrip(SinkOptions(), lo);
  EXPECT_TRUE(run.lg.duration_reached);
  EXPECT_TRUE(run.lg.AllAccepted());
  EXPECT_GT(run.lg.accepted, 1000u);
  EXPECT_LT(run.lg.accepted, 3000u);
  EXPECT_EQ(run.lg.accepted, run.sink.messages);
  ExpectSameIds(run);
}

TEST(SmtpRoundTripTest, DelayedRepliesWithManyInFlight) {
  SinkOptions so;
  so.delay_ms = 5;
  LoadgenOptions lo = Load(400, 8);
  lo.chunking = true;
  lo.inflight = 4;
  RunResult run = RoundTrip(so, lo);
  ExpectAllDelivered(run, 400);
  EXPECT_GE(run.lg.latency_us.Percentile(0.5), 4000u);
}

TEST(SmtpRoundTripTest, UnreachableTargetGivesUp) {
  // Find a port nobody listens on: start a sink, note its port, stop it.
  SinkOptions so;
  so.listen = "127.0.0.1:0";
  auto sink = Sink::Start(so);
  ASSERT_TRUE(sink.ok());
  const uint16_t port = (*sink)->port();
  (*sink)->RequestStop();
  (*sink)->Wait();
  LoadgenOptions lo = Load(10, 2);
  lo.target = "127.0.0.1:" + std::to_string(port);
  lo.reconnect_attempts = 2;
  auto lg = Loadgen::Start(lo);
  ASSERT_TRUE(lg.ok());
  const LoadgenResult r = (*lg)->Wait();
  EXPECT_FALSE(r.AllAccepted());
  EXPECT_EQ(r.attempted, 0u);
  EXPECT_EQ(r.connect_failures, 6u);  // 2 connections x (1 + 2 retries)
}

TEST(SmtpRoundTripTest, BadOptionsAreErrors) {
  LoadgenOptions lo = Load(10, 1);
  lo.target = "localhost:25";
  EXPECT_FALSE(Loadgen::Start(lo).ok());
  lo.target = "127.0.0.1:25";
  lo.inflight = 0;
  EXPECT_FALSE(Loadgen::Start(lo).ok());
  EXPECT_FALSE(ParseDomainList("a.example,,b.example").ok());
  auto d = ParseDomainList("a.example,b.example");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size(), 2u);
}

}  // namespace
}  // namespace ringpost::bench
