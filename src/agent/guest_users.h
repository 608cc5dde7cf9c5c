// guest-get-users: who is logged in, from utmp, as qemu-ga 7.2 reports it:
// one entry per user name with its earliest login time (seconds since the
// epoch, fractional), in the order first seen. Bounded: at most
// kMaxRecords utmp records are read and kMaxUsers users reported.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kumo::agent {

class UserTable {
 public:
  static constexpr size_t kMaxRecords = 4096;
  static constexpr size_t kMaxUsers = 256;

  // Adds whole utmp records from `bytes` (glibc's struct utmp layout); a
  // trailing partial record is ignored.
  void AddRecords(std::string_view bytes);
  nlohmann::json ToJson() const;

 private:
  std::vector<std::string> order_;
  std::map<std::string, double> login_time_;
};

// Reads /var/run/utmp (or `path`) in small chunks.
nlohmann::json LoggedInUsers(const char* path = "/var/run/utmp");

}  // namespace kumo::agent
