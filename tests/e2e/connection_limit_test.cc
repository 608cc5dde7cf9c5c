// kumod under connection pressure, end to end: a real kumod started with a
// low open-files limit (soft and hard, so it cannot raise it), real TCP
// clients that connect and say nothing. What an operator relies on: the API
// keeps answering, kumod does not burn a core, the excess is told why it is
// refused, and a request whose client gave up while it waited is not acted
// upon.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "e2e/kumod_harness.h"
#include "support/host_probe.h"

namespace kumo {
namespace {

using testing::json;
using testing::KumodHarness;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

void CloseAll(std::vector<int>* fds) {
  for (int fd : *fds) close(fd);
  fds->clear();
}

std::string Request(const std::string& method, const std::string& target, const std::string& token,
                    const std::string& body = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty()) {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

// Reads until the response (headers, then Content-Length bytes) is in, the
// peer closes, or `timeout`. With `closed`, reads on until the peer closes
// (or `timeout`) and says whether it did.
std::string ReadResponse(int fd, std::chrono::milliseconds timeout, bool* closed = nullptr) {
  std::string in;
  auto deadline = Clock::now() + timeout;
  if (closed) *closed = false;
  for (;;) {
    size_t end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t cl = in.find("Content-Length: ");
      size_t want = cl == std::string::npos || cl > end ? 0 : std::stoul(in.substr(cl + 16));
      if (in.size() >= end + 4 + want && closed == nullptr) return in;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) return in;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return in;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (closed) *closed = true;
      return in;
    }
    in.append(buf, static_cast<size_t>(n));
  }
}

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

json BodyOf(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  if (end == std::string::npos) return json();
  return json::parse(response.substr(end + 4), nullptr, false);
}

// The share of one core kumod used over `window`.
double CpuShare(pid_t pid, std::chrono::milliseconds window) {
  double before = testing::CpuSeconds(pid);
  auto start = Clock::now();
  std::this_thread::sleep_for(window);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return (testing::CpuSeconds(pid) - before) / seconds;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

TEST(ConnectionLimit, IdleConnectionsBeyondTheOpenFilesLimitLeaveTheApiAnswering) {
  KumodHarness kumod;
  kumod.LimitOpenFiles(256);
  std::string err;
  ASSERT_TRUE(kumod.Start(&err)) << err;
  EXPECT_NE(kumod.log().find("open files limit 256, at most 96 API connections"), std::string::npos)
      << kumod.log();

  std::vector<int> idle;
  for (int i = 0; i < 400; ++i) {
    int fd = testing::ConnectLoopback(kumod.port());
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(500ms);

  double share = CpuShare(kumod.pid(), 3000ms);
  std::cout << "kumod CPU with 400 idle connections: " << static_cast<int>(share * 100)
            << "% of a core\n";
  EXPECT_LT(share, 0.3) << "kumod spins";

  int fd = testing::ConnectLoopback(kumod.port());
  auto start = Clock::now();
  std::string request = Request("GET", "/v1/servers", kumod.token());
  ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string response = ReadResponse(fd, 5000ms);
  auto took = Clock::now() - start;
  close(fd);
  EXPECT_EQ(StatusOf(response), 200) << response;
  EXPECT_LT(took, 2s);
  std::cout << "GET /v1/servers with 400 idle connections: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  CloseAll(&idle);
}

TEST(ConnectionLimit, ExcessConnectionsAreAnswered503NamingTheCap) {
  KumodHarness kumod;
  std::string err;
  ASSERT_TRUE(kumod.Start(&err, {"--max-connections", "4"})) << err;

  // Watch streams are long-lived and busy: they hold their places.
  std::vector<int> watches;
  for (int i = 0; i < 4; ++i) {
    int fd = testing::ConnectLoopback(kumod.port());
    std::string request = Request("GET", "/v1/watch", kumod.token());
    ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    std::string head = ReadResponse(fd, 5000ms);
    ASSERT_EQ(StatusOf(head), 200) << head;
    watches.push_back(fd);
  }

  int fd = testing::ConnectLoopback(kumod.port());
  std::string request = Request("GET", "/v1/servers", kumod.token());
  ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  bool closed = false;
  std::string response = ReadResponse(fd, 5000ms, &closed);
  close(fd);
  EXPECT_EQ(StatusOf(response), 503) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  EXPECT_TRUE(closed) << "the refused connection was left open";
  json error = BodyOf(response)["error"];
  EXPECT_EQ(error["code"], "TooManyConnections") << response;
  EXPECT_NE(error.value("message", "").find("limit of 4 concurrent API connections"),
            std::string::npos)
      << response;
  EXPECT_NE(error.value("hint", "").find("--max-connections"), std::string::npos) << response;

  // A watch that ends gives its place back.
  close(watches.back());
  watches.pop_back();
  EXPECT_TRUE(WaitFor([&] { return kumod.Call("GET", "/v1/servers").status == 200; }, 5000ms));
  CloseAll(&watches);
}

TEST(ConnectionLimit, ARequestWhoseClientLeftWhileKumodHadNoFreeDescriptorIsNotCarriedOut) {
  KumodHarness kumod;
  kumod.LimitOpenFiles(128);
  std::string err;
  // A cap above what the descriptors allow: accept itself fails (EMFILE).
  ASSERT_TRUE(kumod.Start(&err, {"--max-connections", "1000"})) << err;

  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int fd = testing::ConnectLoopback(kumod.port());
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(500ms);
  double share = CpuShare(kumod.pid(), 2000ms);
  std::cout << "kumod CPU while accept fails with EMFILE: " << static_cast<int>(share * 100)
            << "% of a core\n";
  EXPECT_LT(share, 0.3) << "the accept loop spins";

  // Both wait in the listen backlog; the first one's client gives up.
  std::string create =
      Request("POST", "/v1/servers", kumod.token(), R"({"name":"ghost","memory_mib":192})");
  int gone = testing::ConnectLoopback(kumod.port());
  ASSERT_EQ(write(gone, create.data(), create.size()), static_cast<ssize_t>(create.size()));
  std::string remove = Request("DELETE", "/v1/servers/nobody", kumod.token());
  int waiting = testing::ConnectLoopback(kumod.port());
  ASSERT_EQ(write(waiting, remove.data(), remove.size()), static_cast<ssize_t>(remove.size()));
  std::this_thread::sleep_for(1000ms);
  close(gone);

  CloseAll(&idle);
  // The client still connected gets its answer (its request was carried out)...
  std::string answer = ReadResponse(waiting, 10000ms);
  close(waiting);
  EXPECT_EQ(StatusOf(answer), 404) << answer;
  // ... the one that left does not get its server.
  ASSERT_TRUE(WaitFor([&] { return kumod.Call("GET", "/v1/servers").status == 200; }, 10000ms));
  EXPECT_TRUE(WaitFor(
      [&] { return kumod.log().find("dropped POST /v1/servers") != std::string::npos; }, 5000ms))
      << kumod.log();
  EXPECT_EQ(kumod.Call("GET", "/v1/servers/ghost").status, 404);
  EXPECT_EQ(kumod.Call("GET", "/v1/servers").json()["servers"].size(), 0u);

  std::string log = kumod.log();
  size_t first = log.find("cannot accept API connections");
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("cannot accept API connections", first + 1), std::string::npos)
      << "logged more than once per episode: " << log;
  EXPECT_NE(log.find("accepting API connections again"), std::string::npos) << log;
}

}  // namespace
}  // namespace kumo
