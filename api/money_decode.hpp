#pragma once
// What decoding a lifecycle or money request yields for App::handle_command. Private to api/.
#include <functional>
#include <optional>
#include <string>

#include "api/access.hpp"
#include "api/app.hpp"
#include "api/command_codec.hpp"

namespace ordo::api {

struct App::MoneyDecode {
  Submission& s;
  ResourceFacts& facts;
  std::function<Rendered(const Outcome&)>& render;
  std::optional<FieldError>& invalid;
  std::string wait_key;        // the flow `?wait=true` waits for ("" = none)
  std::optional<Actor> actor;  // instead of the token's (the payment provider)
};

}  // namespace ordo::api
