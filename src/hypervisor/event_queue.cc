#include "hypervisor/event_queue.h"

namespace kumo::hypervisor {

void EventQueue::SetHandler(Machine::EventHandler handler) {
  handler_ = std::move(handler);
  ScheduleFlush();
}

void EventQueue::Push(MachineEvent event) {
  if (ended_) return;
  if (event.kind == MachineEvent::Kind::kExited) ended_ = true;
  queue_.push_back(std::move(event));
  if (queue_.size() > kMaxKept) queue_.pop_front();
  ScheduleFlush();
}

void EventQueue::ScheduleFlush() {
  if (!handler_ || queue_.empty() || flush_scheduled_) return;
  flush_scheduled_ = true;
  boost::asio::post(io_, [this, owner = owner_]() {
    auto keep = owner.lock();  // the handler may drop the owner's last reference
    if (keep) Flush();
  });
}

void EventQueue::Flush() {
  flush_scheduled_ = false;
  while (handler_ && !queue_.empty()) {
    MachineEvent event = std::move(queue_.front());
    queue_.pop_front();
    Machine::EventHandler handler = handler_;  // it may replace itself
    handler(event);
  }
}

}  // namespace kumo::hypervisor
