#include "dtls/openssl_util.hpp"

#include <openssl/err.h>

#include <array>

namespace jvb::dtls {

std::string drainOpenSslErrors() {
  std::string out;
  // ERR_get_error_all also yields the failing function and any extra data
  // ("Expecting: ..."), which is what makes a handshake failure readable.
  const char* file = nullptr;
  int line = 0;
  const char* func = nullptr;
  const char* data = nullptr;
  int flags = 0;
  while (const unsigned long e = ERR_get_error_all(&file, &line, &func, &data, &flags)) {
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    if (!out.empty()) {
      out += "; ";
    }
    out += buf.data();
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && data[0] != '\0') {
      out += " (";
      out += data;
      out += ')';
    }
  }
  return out;
}

std::string logOpenSslErrors(log::Level level, std::string_view what) {
  std::string errors = drainOpenSslErrors();
  if (!errors.empty()) {
    JVB_LOG(level, "dtls", "{}: {}", what, errors);
  }
  return errors;
}

}  // namespace jvb::dtls
