#include "agent/guest_users.h"

#include <gtest/gtest.h>
#include <string.h>
#include <utmp.h>

namespace kumo::agent {
namespace {

std::string Record(short type, const char* user, int sec, int usec) {
  utmp r{};
  r.ut_type = type;
  strncpy(r.ut_user, user, sizeof r.ut_user);
  r.ut_tv.tv_sec = sec;
  r.ut_tv.tv_usec = usec;
  return std::string(reinterpret_cast<const char*>(&r), sizeof r);
}

TEST(UserTable, OneEntryPerUserWithEarliestLogin) {
  UserTable t;
  t.AddRecords(Record(BOOT_TIME, "reboot", 1, 0) + Record(USER_PROCESS, "alice", 200, 500000) +
               Record(USER_PROCESS, "bob", 300, 0) + Record(USER_PROCESS, "alice", 100, 250000) +
               Record(DEAD_PROCESS, "carol", 50, 0));
  EXPECT_EQ(t.ToJson(), nlohmann::json::parse(R"([{"user":"alice","login-time":100.25},
                                                   {"user":"bob","login-time":300.0}])"));
}

TEST(UserTable, FullWidthNamesAndPartialRecords) {
  UserTable t;
  std::string name(32, 'u');  // ut_user is not NUL-terminated at full width
  std::string bytes = Record(USER_PROCESS, name.c_str(), 1, 0);
  t.AddRecords(bytes + bytes.substr(0, 100));
  ASSERT_EQ(t.ToJson().size(), 1u);
  EXPECT_EQ(t.ToJson()[0]["user"], name);
}

TEST(UserTable, UsersAreBounded) {
  UserTable t;
  for (size_t i = 0; i < UserTable::kMaxUsers + 10; ++i) {
    t.AddRecords(Record(USER_PROCESS, ("u" + std::to_string(i)).c_str(), 1, 0));
  }
  EXPECT_EQ(t.ToJson().size(), UserTable::kMaxUsers);
}

TEST(LoggedInUsers, MissingUtmpMeansNobody) {
  EXPECT_EQ(LoggedInUsers("/nonexistent/utmp"), nlohmann::json::array());
}

}  // namespace
}  // namespace kumo::agent
