// control_test.cc — queue operation requests and answers, and the board.
#include "relay/shard/control.h"

#include "gtest/gtest.h"

namespace ringpost::shard {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

TEST(ParseControlTest, Routes) {
  struct Case {
    std::string_view method, path, query;
    int status;  // 0: an op
  } cases[] = {
      {"GET", "/queue/summary", "", 0},
      {"HEAD", "/queue/summary", "", 0},
      {"POST", "/queue/summary", "", 405},
      {"GET", "/queue/suspend", "domain=a.test", 405},
      {"POST", "/queue/suspend", "domain=a.test", 0},
      {"POST", "/queue/suspend", "domain=a.test&for=1h", 0},
      {"POST", "/queue/suspend", "", 400},
      {"POST", "/queue/suspend", "domain=a.test&for=soon", 400},
      {"POST", "/queue/suspend", "domain=not%20a%20domain", 400},
      {"POST", "/queue/suspend", "domain=a.test&domain=b.test", 400},
      {"POST", "/queue/resume", "domain=a.test", 0},
      {"POST", "/queue/resume", "domain=a.test&for=1h", 400},
      {"POST", "/queue/flush", "", 0},
      {"POST", "/queue/flush", "domain=a.test", 0},
      {"POST", "/queue/flush", "id=X", 400},
      {"POST", "/queue/bounce", "domain=a.test", 0},
      {"POST", "/queue/bounce", "id=ABC", 0},
      {"POST", "/queue/bounce", "sender=a%40b.test", 0},
      {"POST", "/queue/bounce", "", 400},
      {"POST", "/queue/bounce", "domain=a.test&id=ABC", 400},
      {"POST", "/queue/delete", "id=ABC", 0},
      {"GET", "/queue/message", "id=ABC", 0},
      {"GET", "/queue/message", "", 400},
      {"GET", "/queue/message", "id=%zz", 400},
      {"GET", "/queue/nothing", "", 404},
      {"POST", "/queue/flush", "color=red", 400},
  };
  for (const Case& c : cases) {
    ControlRequest r = ParseControl(c.method, c.path, c.query, kNow);
    EXPECT_EQ(r.op == nullptr ? r.error_status : 0, c.status)
        << c.method << " " << c.path << "?" << c.query << ": " << r.error;
  }
}

TEST(ParseControlTest, Fields) {
  ControlRequest r = ParseControl("POST", "/queue/suspend", "domain=Gmail.COM.&for=1h30m", kNow);
  ASSERT_NE(r.op, nullptr);
  EXPECT_EQ(r.op->kind, ControlOp::Kind::kSuspend);
  EXPECT_EQ(r.op->domain, "gmail.com");
  EXPECT_EQ(r.op->until_ms, kNow + 90 * 60 * 1000);
  r = ParseControl("POST", "/queue/bounce", "sender=a%40b.test", kNow);
  ASSERT_NE(r.op, nullptr);
  EXPECT_EQ(r.op->sender, "a@b.test");
}

TEST(RenderControlTest, Summary) {
  ControlOp op;
  op.kind = ControlOp::Kind::kSummary;
  op.rows.push_back({"b.test", 2, kNow - 5000, "", false});
  op.rows.push_back({"a.test", 7, kNow - 60000, "*.test", true});
  delivery::Suspensions s;
  s.Set("a.test", {kNow + 3600 * 1000, "operator", "suspended by the operator"});
  EXPECT_EQ(RenderControl(op, s, kNow),
            "{\"destinations\":["
            "{\"domain\":\"a.test\",\"queued\":7,\"oldest_s\":60,\"state\":\"suspended\","
            "\"until\":\"2023-11-14T23:13:20.000Z\",\"reason\":\"suspended by the operator\","
            "\"policy\":\"*.test\"},"
            "{\"domain\":\"b.test\",\"queued\":2,\"oldest_s\":5,\"state\":\"active\","
            "\"until\":null,\"reason\":null,\"policy\":\"\"}],"
            "\"suspensions\":[{\"name\":\"a.test\",\"until\":\"2023-11-14T23:13:20.000Z\","
            "\"reason\":\"suspended by the operator\",\"set_by\":\"operator\",\"replies\":[]}]}\n");
}

TEST(RenderControlTest, Counts) {
  delivery::Suspensions s;
  ControlOp op;
  op.kind = ControlOp::Kind::kFlush;
  op.count = 12;
  EXPECT_EQ(RenderControl(op, s, kNow), "{\"flushed\":12}\n");
  op.kind = ControlOp::Kind::kResume;
  op.domain = "a.test";
  EXPECT_EQ(RenderControl(op, s, kNow), "{\"resumed\":\"a.test\",\"released\":12}\n");
  op.kind = ControlOp::Kind::kSuspend;
  EXPECT_EQ(RenderControl(op, s, kNow), "{\"suspended\":\"a.test\",\"until\":null}\n");
}

TEST(JsonTest, TimesAreRfc3339Utc) {
  EXPECT_EQ(JsonTime(kNow + 7), "\"2023-11-14T22:13:20.007Z\"");
}

TEST(SuspensionsTest, HeldUntilTheEnd) {
  delivery::Suspensions s;
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.Held("a.test", kNow));
  s.Set("a.test", {kNow + 1000, "operator", ""});
  s.Set("b.test", {0, "operator", ""});
  EXPECT_TRUE(s.Held("a.test", kNow));
  EXPECT_TRUE(s.Held("b.test", kNow + 1'000'000));
  EXPECT_FALSE(s.Held("a.test", kNow + 1000));  // its time is up: removed
  EXPECT_EQ(s.List(kNow).size(), 1u);
  EXPECT_TRUE(s.Erase("b.test"));
  EXPECT_TRUE(s.empty());
}

TEST(ControlBoardTest, EveryShardTakesEachOpOnce) {
  ControlBoard board(2);
  uint64_t seen0 = 0, seen1 = 0;
  std::vector<std::shared_ptr<ControlOp>> got;
  board.Take(&seen0, &got);
  EXPECT_TRUE(got.empty());
  auto op = std::make_shared<ControlOp>();
  board.Post(op);
  EXPECT_EQ(op->pending.load(), 2);
  board.Take(&seen0, &got);
  ASSERT_EQ(got.size(), 1u);
  board.Take(&seen0, &got);
  EXPECT_EQ(got.size(), 1u);  // not again
  got.clear();
  board.Take(&seen1, &got);
  EXPECT_EQ(got.size(), 1u);
}

}  // namespace
}  // namespace ringpost::shard
