#include "agent/guest_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtc.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

namespace kumo::agent {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;

// struct tm and struct rtc_time name their date fields alike.
template <class From, class To>
void CopyDate(const From& from, To* to) {
  to->tm_sec = from.tm_sec;
  to->tm_min = from.tm_min;
  to->tm_hour = from.tm_hour;
  to->tm_mday = from.tm_mday;
  to->tm_mon = from.tm_mon;
  to->tm_year = from.tm_year;
}

int OpenRtc(int flags) {
  int fd = open("/dev/rtc0", flags | O_CLOEXEC);
  if (fd < 0) fd = open("/dev/rtc", flags | O_CLOEXEC);
  return fd;
}

bool WriteRtc(int64_t seconds, std::string* err) {
  time_t t = time_t(seconds);
  tm utc{};
  gmtime_r(&t, &utc);
  rtc_time rtc{};
  CopyDate(utc, &rtc);
  int fd = OpenRtc(O_RDONLY);
  if (fd < 0 || ioctl(fd, RTC_SET_TIME, &rtc) != 0) {
    *err = std::string("hwclock failed to set hardware clock to system time: ") + strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  return true;
}

bool ReadRtc(int64_t* seconds, std::string* err) {
  rtc_time rtc{};
  int fd = OpenRtc(O_RDONLY);
  if (fd < 0 || ioctl(fd, RTC_RD_TIME, &rtc) != 0) {
    *err = std::string("hwclock failed to set system time from hardware clock: ") + strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  tm t{};
  CopyDate(rtc, &t);
  auto s = RtcSeconds(t);
  if (!s) {
    *err = "hwclock failed to set system time from hardware clock: invalid RTC date";
    return false;
  }
  *seconds = *s;
  return true;
}

}  // namespace

nlohmann::json TimezoneOf(const tm& local) {
  nlohmann::json out = {{"offset", int64_t(local.tm_gmtoff)}};
  if (local.tm_zone && local.tm_zone[0]) out["zone"] = local.tm_zone;
  return out;
}

nlohmann::json Timezone() {
  tzset();
  time_t now = time(nullptr);
  tm local{};
  localtime_r(&now, &local);
  return TimezoneOf(local);
}

bool ValidSetTime(int64_t time_ns, std::string* err) {
  if (time_ns < 0) {
    *err = "Invalid time";
    return false;
  }
  return true;
}

std::optional<int64_t> RtcSeconds(const tm& rtc) {
  if (rtc.tm_mon < 0 || rtc.tm_mon > 11 || rtc.tm_mday < 1 || rtc.tm_mday > 31 || rtc.tm_hour < 0 ||
      rtc.tm_hour > 23 || rtc.tm_min < 0 || rtc.tm_min > 59 || rtc.tm_sec < 0 || rtc.tm_sec > 60 ||
      rtc.tm_year < 70) {
    return std::nullopt;
  }
  tm copy = rtc;
  time_t t = timegm(&copy);
  if (t < 0) return std::nullopt;
  return int64_t(t);
}

bool SetTime(std::optional<int64_t> time_ns, std::string* err) {
  timeval tv{};
  if (time_ns) {
    if (!ValidSetTime(*time_ns, err)) return false;
    tv.tv_sec = time_t(*time_ns / kNsPerSecond);
    tv.tv_usec = suseconds_t((*time_ns % kNsPerSecond) / 1000);
  } else {
    int64_t seconds = 0;
    if (!ReadRtc(&seconds, err)) return false;
    tv.tv_sec = time_t(seconds);
  }
  if (settimeofday(&tv, nullptr) != 0) {
    *err = std::string("Failed to set time to guest: ") + strerror(errno);
    return false;
  }
  return !time_ns || WriteRtc(tv.tv_sec, err);
}

}  // namespace kumo::agent
