// EventQueue: how a Machine hands its events to the handler the server core
// sets: in order, from the event loop (never inside the call that produced or
// registered them), keeping the ones that come before a handler is set, and
// nothing after kExited.
#pragma once

#include <deque>
#include <memory>

#include "common/asio.h"
#include "hypervisor/machine.h"

namespace kumo::hypervisor {

class EventQueue {
 public:
  // Events kept while no handler is set; the oldest go first.
  static constexpr size_t kMaxKept = 256;

  // `owner` holds this queue: deliveries are skipped once it is destroyed.
  EventQueue(boost::asio::io_context& io, std::weak_ptr<const void> owner)
      : io_(io), owner_(std::move(owner)) {}

  void SetHandler(Machine::EventHandler handler);
  void Push(MachineEvent event);
  // Forgets the events not yet delivered (kExited too: ended() stays).
  void DropKept() { queue_.clear(); }
  // Whether kExited has been pushed.
  bool ended() const { return ended_; }

 private:
  void ScheduleFlush();
  void Flush();

  boost::asio::io_context& io_;
  std::weak_ptr<const void> owner_;
  Machine::EventHandler handler_;
  std::deque<MachineEvent> queue_;
  bool flush_scheduled_ = false;
  bool ended_ = false;
};

}  // namespace kumo::hypervisor
