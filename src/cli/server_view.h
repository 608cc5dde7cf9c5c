// How servers, images and events from the API (router.cc's ServerJson,
// ImageJson, EventJson) are shown to people. Pure functions of the JSON;
// missing or unexpected fields show as "-" rather than failing.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace kumo::cli {

using json = nlohmann::json;

// A status for people: "warning" becomes "warning (!)", the rest as is.
std::string StatusText(const std::string& status);
// StatusText of a server, with " [rescue]" while it is booted in rescue mode.
std::string ServerStatusText(const json& server);

// One line: "web: pending (task stopping): graceful stop requested".
std::string StatusLine(const json& server);

// NAME STATUS TASK AGENT VCPUS MEMORY IMAGE REASON, from {"servers": [...]}.
std::string ServerTable(const json& servers);

// "key: value" lines for one server, API field names, known fields first.
std::string ServerDetails(const json& server);

// NAME FORMAT SIZE FIRMWARE AGENT LOGIN OS KERNEL REGISTERED, from
// {"images": [...]}.
std::string ImageTable(const json& images);

// The header and one line per event: TIME  STATUS  KIND  MESSAGE.
std::string EventHeader();
std::string EventLine(const json& event);

// `kumo list --watch`: the header and one line per change from the watch
// stream (`data` as GET /v1/watch sends it): TIME SERVER STATUS MESSAGE.
// Time and message come from the change's timeline event when it has one,
// else `now` and the server's status reason (or the fields that changed).
std::string WatchHeader();
std::string WatchLine(const json& data, const std::string& now);

// A field as text: strings as is, numbers, booleans as yes/no, null or
// missing as "-".
std::string FieldText(const json& object, const char* key);

}  // namespace kumo::cli
