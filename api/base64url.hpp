#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace ordo::api {

std::string base64url_encode(std::string_view data);
// Unpadded base64url (RFC 4648 §5). nullopt on any character outside the alphabet.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace ordo::api
