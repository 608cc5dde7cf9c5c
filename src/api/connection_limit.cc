#include "api/connection_limit.h"

#include <algorithm>

namespace kumo::api {

ConnectionLimit::Admission ConnectionLimit::Decide() const {
  if (open_.size() < cap_) return Admission::kAdmit;
  if (!idle_.empty()) return Admission::kEvictIdle;
  return Admission::kRefuse;
}

uint64_t ConnectionLimit::Open() {
  uint64_t id = next_id_++;
  open_.emplace(id, std::nullopt);
  return id;
}

void ConnectionLimit::Close(uint64_t id) {
  SetBusy(id);
  open_.erase(id);
}

void ConnectionLimit::SetIdle(uint64_t id, Clock::time_point since) {
  auto it = open_.find(id);
  if (it == open_.end()) return;
  if (it->second) idle_.erase({*it->second, id});
  it->second = since;
  idle_.insert({since, id});
}

void ConnectionLimit::SetBusy(uint64_t id) {
  auto it = open_.find(id);
  if (it == open_.end() || !it->second) return;
  idle_.erase({*it->second, id});
  it->second.reset();
}

std::optional<uint64_t> ConnectionLimit::OldestIdle() const {
  if (idle_.empty()) return std::nullopt;
  return idle_.begin()->second;
}

size_t DefaultMaxConnections(uint64_t open_files) {
  uint64_t spare = open_files > 64 ? (open_files - 64) / 2 : 0;
  return static_cast<size_t>(std::clamp<uint64_t>(spare, 16, 4096));
}

AcceptBackoff::Step AcceptBackoff::Failed() {
  std::chrono::milliseconds delay = kFirst;
  for (int i = 0; i < failures_ && delay < kMax; ++i) delay *= 2;
  ++failures_;
  return Step{std::min(delay, kMax), failures_ == 1};
}

int AcceptBackoff::Succeeded() {
  int ended = failures_;
  failures_ = 0;
  return ended;
}

}  // namespace kumo::api
