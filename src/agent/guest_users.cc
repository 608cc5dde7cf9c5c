#include "agent/guest_users.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <utmp.h>

namespace kumo::agent {

void UserTable::AddRecords(std::string_view bytes) {
  for (size_t at = 0; at + sizeof(utmp) <= bytes.size(); at += sizeof(utmp)) {
    utmp record;
    memcpy(&record, bytes.data() + at, sizeof record);
    if (record.ut_type != USER_PROCESS) continue;
    std::string user(record.ut_user, strnlen(record.ut_user, sizeof record.ut_user));
    if (user.empty()) continue;
    double login = double(record.ut_tv.tv_sec) + double(record.ut_tv.tv_usec) / 1e6;
    auto it = login_time_.find(user);
    if (it != login_time_.end()) {
      if (login < it->second) it->second = login;
    } else if (order_.size() < kMaxUsers) {
      order_.push_back(user);
      login_time_[user] = login;
    }
  }
}

nlohmann::json UserTable::ToJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& user : order_) {
    out.push_back({{"user", user}, {"login-time", login_time_.at(user)}});
  }
  return out;
}

nlohmann::json LoggedInUsers(const char* path) {
  UserTable table;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return table.ToJson();
  char buf[16 * sizeof(utmp)];
  size_t records = 0, have = 0;
  ssize_t n;
  while (records < UserTable::kMaxRecords && (n = read(fd, buf + have, sizeof buf - have)) > 0) {
    have += size_t(n);
    size_t whole = have - have % sizeof(utmp);
    table.AddRecords(std::string_view(buf, whole));
    records += whole / sizeof(utmp);
    memmove(buf, buf + whole, have - whole);
    have -= whole;
  }
  close(fd);
  return table.ToJson();
}

}  // namespace kumo::agent
