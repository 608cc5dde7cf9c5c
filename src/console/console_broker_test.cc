// ConsoleBroker against a fake QEMU console: the two FIFOs of QEMU's pipe
// chardev, made and held open read-write by the test as QEMU holds them, on
// the same event loop. Like QEMU it appends what the guest prints to
// console.log (O_APPEND), whether or not anyone reads the FIFO.
#include "console/console_broker.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "support/io_loop.h"

namespace kumo::console {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Descriptor = asio::posix::stream_descriptor;

class FakeQemuConsole {
 public:
  FakeQemuConsole(asio::io_context& io, ConsoleFifos fifos, std::string log_path)
      : io_(io), fifos_(std::move(fifos)), log_path_(std::move(log_path)) {}

  // QEMU starts: its FIFOs are made anew (as kumod's driver does before a
  // launch) and QEMU opens both read-write.
  void Start() {
    Exit();
    for (const std::string& fifo : {fifos_.output, fifos_.input}) {
      unlink(fifo.c_str());
      ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << fifo;
    }
    int out = open(fifos_.output.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    int in = open(fifos_.input.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(out, 0);
    ASSERT_GE(in, 0);
    out_.emplace(io_, out);
    in_.emplace(io_, in);
    ++starts_;
    Read();
  }

  // QEMU exits: it closes the FIFOs, which stay on disk.
  void Exit() {
    out_.reset();
    in_.reset();
    pending_.clear();
    writing_ = false;
  }

  // Something that is not a FIFO is put where the output FIFO belongs.
  void ReplaceOutputWith(const std::string& target) {
    Exit();
    unlink(fifos_.output.c_str());
    ASSERT_EQ(symlink(target.c_str(), fifos_.output.c_str()), 0);
  }

  // The guest prints `bytes`.
  void Guest(const std::string& bytes) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
    if (!out_) return;
    pending_.push_back(bytes);
    Flush();
  }

  bool running() const { return out_.has_value(); }
  bool drained() const { return pending_.empty() && !writing_; }
  int starts() const { return starts_; }
  const std::string& received() const { return received_; }
  void set_reading(bool reading) { reading_ = reading; }
  int pipe_size() { return out_ ? fcntl(out_->native_handle(), F_GETPIPE_SZ) : -1; }

 private:
  void Read() {
    if (!reading_ || !in_) return;
    in_->async_read_some(asio::buffer(buf_), [this](boost::system::error_code ec, size_t n) {
      if (ec) return;  // closed by Exit, or aborted
      received_.append(buf_.data(), n);
      Read();
    });
  }

  void Flush() {
    if (writing_ || pending_.empty() || !out_) return;
    writing_ = true;
    asio::async_write(*out_, asio::buffer(pending_.front()),
                      [this](boost::system::error_code ec, size_t) {
                        if (ec) return;  // closed by Exit, or aborted
                        writing_ = false;
                        pending_.pop_front();
                        Flush();
                      });
  }

  asio::io_context& io_;
  ConsoleFifos fifos_;
  std::string log_path_;
  std::optional<Descriptor> out_, in_;
  std::deque<std::string> pending_;
  bool writing_ = false;
  bool reading_ = true;
  int starts_ = 0;
  std::string received_;
  std::array<char, 4096> buf_{};
};

class ConsoleBrokerTest : public ::testing::Test {
 protected:
  ConsoleBrokerTest() {
    std::string pattern = (fs::temp_directory_path() / "kumo-broker-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    fifos_ = {(dir_ / "console.out").string(), (dir_ / "console.in").string()};
    log_path_ = (dir_ / "console.log").string();
    qemu_.emplace(io_, fifos_, log_path_);
    signal(SIGPIPE, SIG_IGN);  // as kumod does: a write to a FIFO QEMU left is an error
  }
  ~ConsoleBrokerTest() override {
    broker_.reset();
    qemu_.reset();
    fs::remove_all(dir_);
  }

  ConsoleBroker& NewBroker(const std::function<void(ConsoleBroker::Options&)>& tune = nullptr) {
    ConsoleBroker::Options options;
    options.log = [this](const std::string& line) { log_.push_back(line); };
    options.on_throttled = [this](const std::string& message) { notes_.push_back(message); };
    if (tune) tune(options);
    broker_.emplace(io_, "web", options);
    return *broker_;
  }

  // Runs the loop until `done` (true) or `timeout` (false).
  bool RunUntil(const std::function<bool()>& done, milliseconds timeout = milliseconds(5000)) {
    return testing::RunUntil(io_, done, timeout);
  }
  void RunFor(milliseconds d) {
    RunUntil([] { return false; }, d);
  }

  asio::io_context io_;
  fs::path dir_;
  ConsoleFifos fifos_;
  std::string log_path_;
  std::optional<FakeQemuConsole> qemu_;
  std::optional<ConsoleBroker> broker_;
  std::vector<std::string> log_;
  std::vector<std::string> notes_;  // on_throttled
};

TEST_F(ConsoleBrokerTest, FansOutToEverySubscriber) {
  qemu_->Start();
  ConsoleBroker& broker = NewBroker();
  std::string a, b;
  broker.Subscribe([&](std::string_view s) { a += s; });
  broker.Subscribe([&](std::string_view s) { b += s; });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));
  qemu_->Guest("Debian GNU/Linux 12 kumo ttyS0\r\n\r\n");
  qemu_->Guest("kumo login: ");
  ASSERT_TRUE(RunUntil([&] { return b.size() == 46; })) << b;
  EXPECT_EQ(a, "Debian GNU/Linux 12 kumo ttyS0\r\n\r\nkumo login: ");
  EXPECT_EQ(b, a);
  EXPECT_EQ(broker.subscriber_count(), 2u);
}

TEST_F(ConsoleBrokerTest, InputGoesToTheGuestInOrder) {
  ConsoleBroker& broker = NewBroker();
  broker.Start(fifos_, log_path_);
  // Typed before QEMU's FIFOs exist: queued, sent once they are open.
  EXPECT_TRUE(broker.Write("ro"));
  RunFor(milliseconds(250));
  EXPECT_FALSE(broker.connected());
  qemu_->Start();
  EXPECT_TRUE(broker.Write("ot\n"));
  ASSERT_TRUE(RunUntil([&] { return qemu_->received() == "root\n"; })) << qemu_->received();
  EXPECT_TRUE(broker.Write(std::string("\x03", 1)));
  ASSERT_TRUE(RunUntil([&] { return qemu_->received() == "root\n\x03"; }));
  EXPECT_EQ(broker.dropped_input_bytes(), 0u);
}

TEST_F(ConsoleBrokerTest, WaitsForTheFifosAndOpensThemAgainForTheNextQemu) {
  ConsoleBroker& broker = NewBroker();
  std::string seen;
  broker.Subscribe([&](std::string_view s) { seen += s; });
  broker.Start(fifos_, log_path_);
  RunFor(milliseconds(450));  // no FIFOs yet: two or three tries
  EXPECT_FALSE(broker.connected());
  ASSERT_EQ(log_.size(), 1u) << "one line per outage, not one per try";
  EXPECT_NE(log_[0].find("waiting for QEMU's console FIFOs"), std::string::npos) << log_[0];

  qemu_->Start();
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));
  EXPECT_EQ(qemu_->pipe_size(), static_cast<int>(kConsolePipeBytes)) << "grown by the broker";
  qemu_->Guest("first\n");
  ASSERT_TRUE(RunUntil([&] { return seen == "first\n"; }));

  // QEMU exits; its FIFOs stay, held by nobody: the broker waits, without
  // spinning on the ended FIFO, and opens the next QEMU's.
  qemu_->Exit();
  ASSERT_TRUE(RunUntil([&] { return !broker.connected(); }));
  qemu_->Guest("while away\n");  // only in the log, as with QEMU
  RunFor(milliseconds(300));
  EXPECT_FALSE(broker.connected());
  EXPECT_LE(broker.reads(), 2u) << "an ended FIFO is not read over and over";
  qemu_->Start();
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));
  qemu_->Guest("second\n");
  ASSERT_TRUE(RunUntil([&] { return seen == "first\nsecond\n"; })) << seen;
  EXPECT_EQ(qemu_->starts(), 2);
  EXPECT_EQ(broker.Scrollback(), "first\nwhile away\nsecond\n");
  EXPECT_TRUE(broker.Write("x"));
  ASSERT_TRUE(RunUntil([&] { return qemu_->received() == "x"; }));
}

// What the guest printed while nobody read it waits in the pipe: kumod may be
// busy (or restarting) without the guest losing a character.
TEST_F(ConsoleBrokerTest, OutputPrintedBeforeTheBrokerReadsArrivesWhole) {
  qemu_->Start();
  std::string boot;
  for (int i = 0; boot.size() < 48 * 1024; ++i) {
    boot += "[    0." + std::to_string(100000 + i) + "] a line of the boot log\r\n";
  }
  qemu_->Guest(boot);  // more than a socket would ever hold, less than a pipe
  RunFor(milliseconds(100));
  ASSERT_TRUE(qemu_->drained()) << "the pipe took it all without a reader";
  ConsoleBroker& broker = NewBroker();
  std::string seen;
  broker.Subscribe([&](std::string_view s) { seen += s; });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return seen.size() == boot.size(); })) << seen.size();
  EXPECT_EQ(seen, boot);
}

TEST_F(ConsoleBrokerTest, AnythingButAFifoIsRefusedAndNeverRead) {
  std::string secret = (dir_ / "secret").string();
  {
    std::ofstream(secret) << "not for the console\n";
  }
  qemu_->Start();
  qemu_->ReplaceOutputWith(secret);
  ConsoleBroker& broker = NewBroker();
  std::string seen;
  broker.Subscribe([&](std::string_view s) { seen += s; });
  broker.Start(fifos_, log_path_);
  RunFor(milliseconds(300));
  EXPECT_FALSE(broker.connected());
  EXPECT_EQ(seen, "");
  ASSERT_FALSE(log_.empty());
  EXPECT_NE(log_[0].find("console.out"), std::string::npos) << log_[0];

  // A plain file in its place is refused too.
  unlink(fifos_.output.c_str());
  {
    std::ofstream(fifos_.output) << "planted\n";
  }
  RunFor(milliseconds(300));
  EXPECT_FALSE(broker.connected());
  EXPECT_EQ(seen, "");
}

TEST_F(ConsoleBrokerTest, RotationKeepsAtLeastOneMebibyteAndBoundsTheFiles) {
  qemu_->Start();
  ConsoleBroker& broker = NewBroker([](auto& o) { o.rate_bytes_per_sec = 0; });
  size_t seen = 0;
  broker.Subscribe([&](std::string_view s) { seen += s.size(); });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));

  // 3.5 MiB of numbered lines, in 32 KiB writes as a chatty guest would.
  std::string fed;
  int line = 0;
  uint64_t max_total = 0;
  while (fed.size() < 3 * 1024 * 1024 + 512 * 1024) {
    std::string chunk;
    while (chunk.size() < 32 * 1024) {
      char text[64];
      snprintf(text, sizeof text, "[%9.6f] line %07d of the boot log\r\n", line * 0.001, line);
      chunk += text;
      ++line;
    }
    fed += chunk;
    qemu_->Guest(chunk);
    ASSERT_TRUE(RunUntil([&] { return qemu_->drained() && seen == fed.size(); }));
    uint64_t total = fs::file_size(log_path_) +
                     (fs::exists(log_path_ + ".1") ? fs::file_size(log_path_ + ".1") : 0);
    max_total = std::max(max_total, total);
  }
  uint64_t current = fs::file_size(log_path_);
  uint64_t rotated = fs::file_size(log_path_ + ".1");
  EXPECT_LE(current, kConsoleLogRotateBytes);
  EXPECT_GE(rotated, kConsoleLogRotateBytes);
  EXPECT_LE(rotated, kConsoleLogRotateBytes + 64 * 1024);
  EXPECT_LE(max_total, 2 * kConsoleLogRotateBytes + 64 * 1024) << "disk use stays bounded";

  // The scrollback is the newest part of what the guest printed, without gaps.
  std::string scrollback = ReadScrollback(log_path_);
  EXPECT_GE(scrollback.size(), kConsoleLogRotateBytes);
  ASSERT_LE(scrollback.size(), fed.size());
  EXPECT_TRUE(scrollback == fed.substr(fed.size() - scrollback.size()));
  char last[64];
  snprintf(last, sizeof last, "line %07d of the boot log\r\n", line - 1);
  EXPECT_NE(ReadScrollback(log_path_, 1).find(last), std::string::npos);
  std::string three = ReadScrollback(log_path_, 3);
  EXPECT_EQ(std::count(three.begin(), three.end(), '\n'), 3);
  // The size is counted, not looked up per read: the file was opened at
  // start and once per rotation (three of them) and little more.
  EXPECT_LE(broker.log_file_checks(), 8u) << broker.reads() << " reads";
}

TEST_F(ConsoleBrokerTest, RotatesAnOversizedLogAtStart) {
  {
    std::string big(kConsoleLogRotateBytes + 100, 'z');
    qemu_->Guest(big);  // no client: only the log
  }
  ConsoleBroker& broker = NewBroker();
  broker.Start(fifos_, log_path_);
  EXPECT_EQ(fs::file_size(log_path_), 0u);
  EXPECT_EQ(fs::file_size(log_path_ + ".1"), kConsoleLogRotateBytes + 100);
}

TEST_F(ConsoleBrokerTest, NothingIsCalledAfterStop) {
  qemu_->Start();
  ConsoleBroker& broker = NewBroker();
  int outputs = 0, stops = 0;
  broker.Subscribe([&](std::string_view) { ++outputs; }, [&] { ++stops; });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));
  qemu_->Guest("one\n");
  ASSERT_TRUE(RunUntil([&] { return outputs == 1; }));

  qemu_->Guest("pending\n");  // in flight when Stop comes
  broker.Stop();
  EXPECT_EQ(stops, 1);
  EXPECT_TRUE(broker.stopped());
  EXPECT_FALSE(broker.Write("late"));
  EXPECT_EQ(broker.Subscribe([&](std::string_view) { ++outputs; }), ConsoleBroker::kNoSubscription);
  qemu_->Guest("more\n");
  RunFor(milliseconds(400));  // past a retry interval: no reconnect either
  EXPECT_EQ(outputs, 1);
  EXPECT_EQ(stops, 1);
  broker.Stop();  // idempotent
  EXPECT_EQ(stops, 1);
  EXPECT_EQ(qemu_->received(), "");
}

TEST_F(ConsoleBrokerTest, NothingIsCalledAfterDestruction) {
  qemu_->Start();
  ConsoleBroker& broker = NewBroker();
  int calls = 0;
  broker.Subscribe([&](std::string_view) { ++calls; }, [&] { ++calls; });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));
  qemu_->Guest("in flight\n");
  broker.Write("typed");
  broker_.reset();  // with a read and a write pending
  RunFor(milliseconds(400));
  EXPECT_EQ(calls, 0);

  // Destroyed while waiting for the FIFOs (a retry timer pending).
  qemu_->Exit();
  ConsoleBroker& waiting = NewBroker();
  waiting.Subscribe([&](std::string_view) { ++calls; });
  waiting.Start(fifos_, log_path_);
  RunFor(milliseconds(50));
  broker_.reset();
  qemu_->Start();
  qemu_->Guest("after\n");
  RunFor(milliseconds(400));
  EXPECT_EQ(calls, 0);
}

TEST_F(ConsoleBrokerTest, CallbacksMayUnsubscribeAndStop) {
  qemu_->Start();
  ConsoleBroker& broker = NewBroker();
  int first = 0, second = 0, third = 0, stops = 0;
  ConsoleBroker::SubscriptionId id1 = 0, id2 = 0;
  id1 = broker.Subscribe([&](std::string_view) {
    ++first;
    broker.Unsubscribe(id1);  // itself
    broker.Unsubscribe(id2);  // a later one of the same round
  });
  id2 = broker.Subscribe([&](std::string_view) { ++second; });
  broker.Subscribe(
      [&](std::string_view) {
        ++third;
        if (third == 2) broker.Stop();
      },
      [&] { ++stops; });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));
  qemu_->Guest("a");
  ASSERT_TRUE(RunUntil([&] { return third == 1; }));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
  EXPECT_EQ(broker.subscriber_count(), 1u);
  qemu_->Guest("b");
  ASSERT_TRUE(RunUntil([&] { return broker.stopped(); }));
  EXPECT_EQ(stops, 1);
  qemu_->Guest("c");
  RunFor(milliseconds(100));
  EXPECT_EQ(third, 2);
  EXPECT_EQ(first, 1);
}

TEST_F(ConsoleBrokerTest, InputBeyondTheBoundIsDroppedWithALogLine) {
  qemu_->set_reading(false);  // a QEMU (guest) that takes no input
  ConsoleBroker& broker = NewBroker();
  broker.Start(fifos_, log_path_);  // not listening yet: nothing is written
  std::string chunk(16 * 1024, 'k');
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(broker.Write(chunk)) << i;  // 64 KiB: the bound
  EXPECT_FALSE(broker.Write("x"));
  EXPECT_FALSE(broker.Write(chunk));
  EXPECT_EQ(broker.dropped_input_bytes(), 1 + chunk.size());
  size_t lines = 0;
  for (const auto& l : log_) lines += l.find("dropping input") != std::string::npos;
  EXPECT_EQ(lines, 1u) << "one log line per burst";
}

// The rate budget runs on the real clock here, so the bounds are generous.
TEST_F(ConsoleBrokerTest, AFloodIsReadAtTheBudgetNotedOnceAndInputStillGoesThrough) {
  qemu_->Start();
  ConsoleBroker& broker = NewBroker([](auto& o) {
    o.rate_bytes_per_sec = 64 * 1024;
    o.burst_bytes = 16 * 1024;
  });
  std::string seen;
  broker.Subscribe([&](std::string_view s) { seen += s; });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));

  std::string fed;
  for (int i = 0; fed.size() < 1024 * 1024; ++i) fed += "y " + std::to_string(i) + "\n";
  auto start = std::chrono::steady_clock::now();
  qemu_->Guest(fed);  // the pipe fills as the broker holds back
  RunFor(milliseconds(500));
  EXPECT_TRUE(broker.Write("typed\n")) << "input is taken during a flood";
  ASSERT_TRUE(RunUntil([&] { return qemu_->received() == "typed\n"; }, milliseconds(1000)))
      << "and reaches the guest";
  RunFor(milliseconds(1000));
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // burst + rate * elapsed, plus one read's slack; and not stalled either.
  EXPECT_LE(seen.size(), 16 * 1024 + 64 * 1024 * elapsed + 64 * 1024) << elapsed << " s";
  EXPECT_GE(seen.size(), 16 * 1024 + 64 * 1024 * 0.5) << elapsed << " s";
  EXPECT_EQ(seen, fed.substr(0, seen.size())) << "everything read reaches viewers, in order";
  EXPECT_LE(broker.reads(), 100u) << "a flood is read in a few large chunks";
  EXPECT_EQ(broker.log_file_checks(), 1u) << "no look at console.log below the bound";
  EXPECT_TRUE(broker.throttled());
  ASSERT_EQ(notes_.size(), 1u) << "once per episode, not once per pause";
  EXPECT_NE(notes_[0].find("console output throttled"), std::string::npos) << notes_[0];
  EXPECT_NE(notes_[0].find("more than 64 KiB/s"), std::string::npos) << notes_[0];
  EXPECT_EQ(broker.throttle_episodes(), 1u);
}

TEST_F(ConsoleBrokerTest, AQuietSpellEndsTheEpisodeAndTheNextFloodIsNotedAgain) {
  qemu_->Start();
  ConsoleBroker& broker = NewBroker([](auto& o) {
    o.rate_bytes_per_sec = 256 * 1024;
    o.burst_bytes = 16 * 1024;
  });
  size_t seen = 0;
  // A viewer that takes a moment over each chunk (as a loaded host does): the
  // next read then finds a few bytes' worth of budget again, and that must not
  // hide the flood.
  broker.Subscribe([&](std::string_view s) {
    seen += s.size();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));

  std::string flood(128 * 1024, 'y');
  qemu_->Guest(flood);
  ASSERT_TRUE(RunUntil([&] { return seen == flood.size(); }));
  EXPECT_EQ(notes_.size(), 1u);
  RunFor(milliseconds(300));  // the burst comes back in 1/16 s
  qemu_->Guest("login: ");
  ASSERT_TRUE(RunUntil([&] { return seen == flood.size() + 7; }));
  EXPECT_FALSE(broker.throttled());
  qemu_->Guest(flood);
  ASSERT_TRUE(RunUntil([&] { return seen == 2 * flood.size() + 7; }));
  EXPECT_EQ(notes_.size(), 2u);
  EXPECT_EQ(broker.throttle_episodes(), 2u);
}

TEST_F(ConsoleBrokerTest, ManySmallWritesArriveInFewReads) {
  qemu_->Start();
  ConsoleBroker& broker = NewBroker();
  std::string seen;
  broker.Subscribe([&](std::string_view s) { seen += s; });
  broker.Start(fifos_, log_path_);
  ASSERT_TRUE(RunUntil([&] { return broker.connected(); }));
  // 400 writes of a few bytes, one every 0.5 ms: the shape of a UART flood.
  asio::steady_timer tick(io_);
  int writes = 0;
  std::function<void()> next = [&] {
    qemu_->Guest("y\n");
    if (++writes == 400) return;
    tick.expires_after(std::chrono::microseconds(500));
    tick.async_wait([&](boost::system::error_code ec) {
      if (!ec) next();
    });
  };
  next();
  ASSERT_TRUE(RunUntil([&] { return seen.size() == 800; })) << seen.size();
  // Unbatched this is one read per write; with a 5 ms pause between reads
  // it is about one per 5 ms of writing (at least 200 ms here).
  EXPECT_LE(broker.reads(), 150u);
  EXPECT_TRUE(notes_.empty()) << "800 bytes are well within the budget";
}

}  // namespace
}  // namespace kumo::console
