// The guest's clock for QGA: guest-get-timezone and guest-set-time, as
// qemu-ga 7.2 answers them.
//  - guest-get-timezone: the zone abbreviation in effect now ("UTC", "JST",
//    "CEST"; left out when empty) and its offset from UTC in seconds, from the
//    C library's view of TZ and /etc/localtime.
//  - guest-set-time with `time` (ns since the epoch): sets the system clock,
//    then writes it to the hardware clock (qemu-ga runs `hwclock -w`); without
//    `time`: sets the system clock from the hardware clock (`hwclock -s`).
//    kumo-agent talks to /dev/rtc0 (RTC_RD_TIME / RTC_SET_TIME) instead of
//    running hwclock, and takes the RTC to hold UTC, as Linux guests keep it.
#pragma once

#include <time.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kumo::agent {

// {"zone": tm_zone, "offset": tm_gmtoff} for a broken-down local time.
nlohmann::json TimezoneOf(const tm& local);
nlohmann::json Timezone();

// Checks a guest-set-time value; false with `err` set (qemu-ga's wording)
// if it is before the epoch (int64 nanoseconds end in 2262, which a 64-bit
// time_t holds).
bool ValidSetTime(int64_t time_ns, std::string* err);

// Seconds since the epoch for an RTC reading taken to be UTC; nullopt if the
// reading is not a valid date.
std::optional<int64_t> RtcSeconds(const tm& rtc);

// guest-set-time. Returns false with `err` set on failure.
bool SetTime(std::optional<int64_t> time_ns, std::string* err);

}  // namespace kumo::agent
