#pragma once
// One request on its way through the handlers: the matched access rule, path parameters,
// query, and the authenticated caller. Private to api/.
#include "api/access.hpp"
#include "api/app.hpp"
#include "api/http_util.hpp"
#include "api/problem.hpp"

namespace ordo::api {

struct App::Call {
  Request& req;
  const AccessRule& rule;
  std::vector<std::string> params;
  Query query;
  Claims who;
  bool keep_alive;
  Response problem(Problem p) const { return make_problem(p, req.version(), keep_alive); }
  Response json(int status, std::string body) const {
    return json_response(status, std::move(body), req.version(), keep_alive);
  }
};

}  // namespace ordo::api
