// How `kumo diagnose` shows a diagnosis (GET /v1/servers/NAME/diagnosis) to
// people: the findings, most likely cause first, each with its evidence and
// the kumo commands that are its ways out, then every check. Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace kumo::cli {

std::string DiagnosisText(const nlohmann::json& diagnosis);
// The kumo command for a diagnosis action ("force_stop" → "kumo stop --force web").
std::string CommandForAction(const std::string& action, const std::string& server);

}  // namespace kumo::cli
