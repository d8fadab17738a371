#pragma once
// The OpenAPI 3.1 document (schemas/openapi.yaml), as JSON, embedded at build time and
// served at GET /v1/openapi.json.
#include <string_view>

namespace ordo::api {

std::string_view openapi_json() noexcept;

}  // namespace ordo::api
