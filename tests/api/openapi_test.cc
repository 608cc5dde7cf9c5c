// docs/openapi.json is the API's contract (STYLE.md rule 9): its paths and
// methods must be exactly the routes the Router serves, and only the routes
// that need no token may go without security.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "api/router.h"

namespace {

using json = nlohmann::json;
using Endpoint = std::pair<std::string, std::string>;  // (METHOD, path pattern)

const std::set<std::string> kHttpMethods = {"get",     "put",  "post",  "delete",
                                            "options", "head", "patch", "trace"};

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

json LoadDocument() {
  std::ifstream in(KUMO_OPENAPI_PATH);
  EXPECT_TRUE(in) << "cannot open " << KUMO_OPENAPI_PATH;
  json doc = json::parse(in, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << KUMO_OPENAPI_PATH << " is not valid JSON";
  return doc;
}

// Every (METHOD, path) the document describes, with whether it is secured.
std::map<Endpoint, bool> DocumentedEndpoints(const json& doc) {
  std::map<Endpoint, bool> out;
  const json global = doc.value("security", json::array());
  for (const auto& [path, item] : doc.at("paths").items()) {
    for (const auto& [key, operation] : item.items()) {
      std::string lower = key;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (!kHttpMethods.count(lower)) continue;  // "parameters", "summary", ...
      const json& security = operation.contains("security") ? operation["security"] : global;
      // An empty list, or an empty requirement object in it, lets requests
      // through without credentials.
      bool secured = security.is_array() && !security.empty() &&
                     std::none_of(security.begin(), security.end(),
                                  [](const json& r) { return r.is_object() && r.empty(); });
      out[{Upper(key), path}] = secured;
    }
  }
  return out;
}

std::set<Endpoint> RouterEndpoints() {
  std::set<Endpoint> out;
  for (const auto& r : kumo::api::Router::Routes()) out.insert({Upper(r.method), r.pattern});
  return out;
}

std::string Describe(const std::set<Endpoint>& endpoints) {
  std::string out;
  for (const auto& [method, path] : endpoints) out += "\n  " + method + " " + path;
  return out.empty() ? " (none)" : out;
}

TEST(OpenApi, IsAnOpenApi3DocumentWithBearerAuth) {
  json doc = LoadDocument();
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc.value("openapi", "").rfind("3.0.", 0), 0u);
  ASSERT_TRUE(doc.contains("paths"));
  const json& scheme = doc["components"]["securitySchemes"]["bearerAuth"];
  EXPECT_EQ(scheme.value("type", ""), "http");
  EXPECT_EQ(scheme.value("scheme", ""), "bearer");
  EXPECT_EQ(doc["security"], json::parse(R"([{"bearerAuth": []}])"));
}

TEST(OpenApi, DescribesExactlyTheRoutesTheRouterServes) {
  json doc = LoadDocument();
  ASSERT_TRUE(doc.contains("paths"));
  std::set<Endpoint> documented;
  for (const auto& [endpoint, secured] : DocumentedEndpoints(doc)) documented.insert(endpoint);
  std::set<Endpoint> served = RouterEndpoints();
  ASSERT_FALSE(served.empty());

  std::set<Endpoint> undocumented, not_served;
  std::set_difference(served.begin(), served.end(), documented.begin(), documented.end(),
                      std::inserter(undocumented, undocumented.end()));
  std::set_difference(documented.begin(), documented.end(), served.begin(), served.end(),
                      std::inserter(not_served, not_served.end()));
  EXPECT_TRUE(undocumented.empty())
      << "routes in Router::Routes() missing from docs/openapi.json:" << Describe(undocumented);
  EXPECT_TRUE(not_served.empty())
      << "operations in docs/openapi.json that Router::Routes() does not serve:"
      << Describe(not_served);
}

TEST(OpenApi, OnlyRoutesWithoutTokenGoWithoutSecurity) {
  json doc = LoadDocument();
  ASSERT_TRUE(doc.contains("paths"));
  auto documented = DocumentedEndpoints(doc);
  for (const auto& r : kumo::api::Router::Routes()) {
    auto it = documented.find({Upper(r.method), r.pattern});
    if (it == documented.end()) continue;  // reported by the test above
    EXPECT_EQ(it->second, r.needs_token)
        << r.method << " " << r.pattern
        << (r.needs_token ? " needs a token but the document lets it go without security"
                          : " needs no token but the document requires security");
  }
}

TEST(OpenApi, RequestBodiesRefuseUnknownFields) {
  json doc = LoadDocument();
  ASSERT_TRUE(doc.contains("paths"));
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, operation] : item.items()) {
      if (!operation.is_object() || !operation.contains("requestBody")) continue;
      // Only a JSON body has fields (an image upload's body is bytes).
      const json& content = operation["requestBody"]["content"];
      if (!content.contains("application/json")) {
        EXPECT_TRUE(content.contains("application/octet-stream")) << method << " " << path;
        continue;
      }
      json schema = content["application/json"]["schema"];
      if (schema.contains("$ref")) {
        json::json_pointer pointer(schema["$ref"].get<std::string>().substr(1));
        schema = doc.at(pointer);
      }
      EXPECT_EQ(schema.value("additionalProperties", true), false) << method << " " << path;
    }
  }
}

}  // namespace
