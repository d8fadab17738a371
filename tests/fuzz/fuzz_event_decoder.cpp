// libFuzzer target: the log's event decoder (envelope, then the typed payload) on arbitrary
// bytes, as replay and the Kafka consumer meet them. Must never crash; whatever decodes must
// survive a round trip: encoding the decoded envelope and decoding it again gives the same.
// And verify's in-place reader (CanonicalText) accepts nothing that is not exactly the
// canonical encoding of the JSON it denotes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/log/canonical_text.hpp"
#include "engine/log/envelope.hpp"
#include "engine/log/event_codec.hpp"

using namespace ordo;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  {
    CanonicalText canonical;
    const bool read = canonical.read(text);
    // Valid UTF-8 is the reader's precondition, and parsing is the test of that.
    if (auto tree = parse_json(text); tree && read && to_canonical(tree.value()) != text)
      __builtin_trap();
  }
  auto env = decode_envelope(text);
  if (!env) return 0;
  (void)decode_event(env.value().type, env.value().schema_version, env.value().payload);
  auto again = decode_envelope(encode_envelope(env.value()));
  if (!again || !(again.value() == env.value())) __builtin_trap();
  return 0;
}
