// Test support: a client of kumod's console WebSocket that types like an
// operator and waits for what the guest prints.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace kumo::testing {

class ConsoleClient {
 public:
  ConsoleClient();
  ~ConsoleClient();

  enum class TokenIn { kHeader, kQuery };
  // Connects to ws://127.0.0.1:PORT/v1/servers/NAME/console with the token
  // (as "Authorization: Bearer", or as ?token= the way a browser must). On a
  // refusal *err starts with the HTTP status.
  bool Connect(int port, const std::string& name, const std::string& token, std::string* err,
               TokenIn token_in = TokenIn::kHeader, int tail_lines = 0);
  bool Send(const std::string& bytes);
  // Waits until `needle` appears in what arrived since the last Clear().
  bool WaitFor(const std::string& needle, std::chrono::milliseconds timeout);
  const std::string& output() const;
  void Clear();

  // Logs in on the getty (sends newlines until "login:" shows) and waits for
  // the shell's prompt (a root prompt unless told: a user's bash ends in "$ ").
  bool Login(const std::string& user, const std::string& password,
             std::chrono::milliseconds timeout, const std::string& prompt = "# ");
  // Runs a shell command and returns what it printed before the marker line.
  std::string Run(const std::string& command, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Connects to server NAME's console on the kumod at PORT, for a test: a
// refusal is a test failure (EXPECT) that carries kumod's answer.
std::unique_ptr<ConsoleClient> AttachConsole(int port, const std::string& name,
                                             const std::string& token);

}  // namespace kumo::testing
