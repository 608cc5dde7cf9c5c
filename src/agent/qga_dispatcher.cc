#include "agent/qga_dispatcher.h"

namespace kumo::agent {
namespace {

constexpr char kResyncByte = '\xff';

std::string Quoted(const char* name) { return std::string("'") + name + "'"; }

[[noreturn]] void ThrowWrongType(const char* name, const char* expected) {
  throw ArgumentError{"Invalid parameter type for " + Quoted(name) + ", expected: " + expected};
}

WireReply Serialize(const json& body, bool delimited) {
  WireReply reply;
  if (delimited) reply.bytes += kResyncByte;
  // Replies hold text the guest produced (host names, command output): never
  // let invalid UTF-8 make serialisation fail.
  reply.bytes += body.dump(-1, ' ', false, json::error_handler_t::replace);
  reply.bytes += '\n';
  return reply;
}

json ErrorBody(const QgaError& error) {
  return {{"error", {{"class", error.error_class}, {"desc", error.desc}}}};
}

}  // namespace

const json* Arguments::Find(const char* name) const {
  auto it = object_.find(name);
  return it == object_.end() ? nullptr : &*it;
}

int64_t Arguments::RequiredInt(const char* name) const {
  auto v = OptionalInt(name);
  if (!v) throw ArgumentError{"Parameter " + Quoted(name) + " is missing"};
  return *v;
}

std::string Arguments::RequiredString(const char* name) const {
  auto v = OptionalString(name);
  if (!v) throw ArgumentError{"Parameter " + Quoted(name) + " is missing"};
  return *v;
}

std::optional<int64_t> Arguments::OptionalInt(const char* name) const {
  const json* v = Find(name);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  ThrowWrongType(name, "integer");
}

std::optional<std::string> Arguments::OptionalString(const char* name) const {
  const json* v = Find(name);
  if (!v) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  ThrowWrongType(name, "string");
}

std::optional<bool> Arguments::OptionalBool(const char* name) const {
  const json* v = Find(name);
  if (!v) return std::nullopt;
  if (v->is_boolean()) return v->get<bool>();
  ThrowWrongType(name, "boolean");
}

std::vector<std::string> Arguments::OptionalStringList(const char* name) const {
  const json* v = Find(name);
  std::vector<std::string> out;
  if (!v) return out;
  if (!v->is_array()) ThrowWrongType(name, "array");
  for (const auto& item : *v) {
    if (!item.is_string()) ThrowWrongType(name, "string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

void QgaDispatcher::Add(Command command) {
  std::string name = command.name;
  commands_[name] = std::move(command);
}

void QgaDispatcher::Disable(const std::string& name) {
  auto it = commands_.find(name);
  if (it != commands_.end()) it->second.enabled = false;
}

bool QgaDispatcher::AllowedWhileFrozen(const std::string& name) {
  static const char* const kAllowed[] = {"guest-ping",
                                         "guest-info",
                                         "guest-sync",
                                         "guest-sync-delimited",
                                         "guest-fsfreeze-status",
                                         "guest-fsfreeze-thaw"};
  for (const char* allowed : kAllowed) {
    if (name == allowed) return true;
  }
  return false;
}

bool QgaDispatcher::Enabled(const Command& command) const {
  return command.enabled && (!frozen_ || AllowedWhileFrozen(command.name));
}

WireReply QgaDispatcher::FormatError(const QgaError& error) {
  return Serialize(ErrorBody(error), false);
}

std::optional<WireReply> QgaDispatcher::Dispatch(std::string_view message) const {
  json request = json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded())
    return FormatError({"GenericError", "JSON parse error, invalid JSON"});
  if (!request.is_object()) {
    return FormatError({"GenericError", "QMP input must be a JSON object"});
  }
  for (const auto& [key, value] : request.items()) {
    if (key != "execute" && key != "arguments" && key != "id") {
      return FormatError({"GenericError", "QMP input member '" + key + "' is unexpected"});
    }
  }
  const json* id = request.contains("id") ? &request["id"] : nullptr;
  auto reply = [&](json body, bool delimited) {
    if (id) body["id"] = *id;
    return Serialize(body, delimited);
  };

  auto execute = request.find("execute");
  if (execute == request.end()) {
    return reply(ErrorBody({"GenericError", "QMP input lacks member 'execute'"}), false);
  }
  if (!execute->is_string()) {
    return reply(ErrorBody({"GenericError", "QMP input member 'execute' must be a string"}), false);
  }
  static const json kNoArguments = json::object();
  const json* arguments = &kNoArguments;
  if (auto it = request.find("arguments"); it != request.end()) {
    if (!it->is_object()) {
      return reply(ErrorBody({"GenericError", "QMP input member 'arguments' must be an object"}),
                   false);
    }
    arguments = &*it;
  }

  const std::string& name = execute->get_ref<const std::string&>();
  auto found = commands_.find(name);
  if (found == commands_.end()) {
    return reply(ErrorBody({"CommandNotFound", "The command " + name + " has not been found"}),
                 false);
  }
  const Command& command = found->second;
  if (!command.enabled) {
    return reply(ErrorBody({"CommandNotFound", "Command " + name + " has been disabled"}), false);
  }
  if (!Enabled(command)) {
    return reply(ErrorBody({"CommandNotFound", "Command " + name +
                                                   " has been disabled: the agent is in frozen "
                                                   "state"}),
                 false);
  }
  for (const auto& [key, value] : arguments->items()) {
    bool known = false;
    for (const auto& p : command.params) known = known || p == key;
    if (!known) {
      return reply(ErrorBody({"GenericError", "Parameter '" + key + "' is unexpected"}), false);
    }
  }

  CommandResult result;
  try {
    result = command.handler(Arguments(*arguments));
  } catch (const ArgumentError& e) {
    result = CommandResult::Error(e.desc);
  }
  switch (result.kind) {
    case CommandResult::Kind::kNone:
      return std::nullopt;
    case CommandResult::Kind::kError:
      return reply(ErrorBody(result.error), false);
    case CommandResult::Kind::kReturn:
      break;
  }
  bool delimited = name == "guest-sync-delimited";
  return reply({{"return", std::move(result.value)}}, delimited);
}

json QgaDispatcher::SupportedCommands() const {
  json list = json::array();
  for (const auto& [name, command] : commands_) {
    list.push_back({{"name", name},
                    {"enabled", Enabled(command)},
                    {"success-response", command.success_response}});
  }
  return list;
}

}  // namespace kumo::agent
