#pragma once
// Masks the secrets that can appear in text the bridge logs: ICE and colibri-ws passwords
// (`pwd='...'` in Colibri2/Jingle XML, `?pwd=...` in colibri-ws URLs), `password=` the same way,
// and the SASL payloads (`<auth>`, `<response>`) that libstrophe's stanza dump contains. Used on
// every log line that carries a request target or a raw stanza; never on the packet path.

#include <string>
#include <string_view>

namespace jvb {

// The text with each secret value replaced by "***" (the key and the quotes are kept).
std::string redactSecrets(std::string_view text);

}  // namespace jvb
