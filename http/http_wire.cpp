#include "http/http_wire.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <sstream>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "common/log.hpp"
#include "common/redact.hpp"

namespace jvb::http::wire {
namespace bhttp = boost::beast::http;

namespace {

constexpr std::size_t kSocketReadSize = 64 * 1024;  // Beast's read_size for one read

// A SyncReadStream over memory that hands out at most `chunk` bytes per
// read_some, then end of file: a client that sends `bytes` and shuts down.
class MemoryReadStream {
 public:
  MemoryReadStream(std::string_view bytes, std::size_t chunk)
      : bytes_(bytes), chunk_(chunk == 0 ? bytes.size() : chunk) {}

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    ec = {};
    if (bytes_.empty()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    const std::size_t n = boost::asio::buffer_copy(
        buffers, boost::asio::buffer(bytes_.data(), std::min(chunk_, bytes_.size())));
    bytes_.remove_prefix(n);
    return n;
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) {
      throw boost::system::system_error(ec);
    }
    return n;
  }

 private:
  std::string_view bytes_;
  std::size_t chunk_;
};

void addCommonFields(BeastResponse& res) {
  res.set(bhttp::field::server, kServerName);
  if (res.find(bhttp::field::access_control_allow_origin) == res.end()) {
    res.set(bhttp::field::access_control_allow_origin, "*");
  }
}

// An answer after which the connection closes.
BeastResponse closingResponse(unsigned status, const std::string& text) {
  BeastResponse res;
  res.version(11);
  res.result(status);
  addCommonFields(res);
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(false);
  res.body() = text + "\n";
  res.content_length(res.body().size());
  return res;
}

}  // namespace

void applyLimits(RequestParser& parser, const ServerLimits& limits) {
  const auto header =
      std::min<std::size_t>(limits.maxHeaderBytes, std::numeric_limits<std::uint32_t>::max());
  parser.header_limit(static_cast<std::uint32_t>(header));
  parser.body_limit(static_cast<std::uint64_t>(limits.maxBodyBytes));
}

std::size_t readBufferLimit(const ServerLimits& limits) {
  return limits.maxHeaderBytes + kSocketReadSize;
}

Request toRequest(const BeastRequest& request) {
  Request r;
  r.method = std::string(request.method_string());
  r.target = std::string(request.target());
  r.body = request.body();
  const auto ct = request.find(bhttp::field::content_type);
  if (ct != request.end()) {
    r.contentType = std::string(ct->value());
  }
  return r;
}

BeastResponse toBeast(const Response& response, const BeastRequest& request) {
  BeastResponse res;
  res.version(request.version());
  const bool validStatus = response.status >= 100 && response.status <= 999;
  res.result(validStatus ? response.status : 500U);
  if (!response.contentType.empty()) {
    res.set(bhttp::field::content_type, response.contentType);
  }
  for (const auto& [name, value] : response.headers) {
    res.insert(name, value);
  }
  addCommonFields(res);
  res.keep_alive(request.keep_alive());
  if (request.method() == bhttp::verb::head) {
    res.content_length(response.body.size());
  } else {
    res.body() = response.body;
    res.content_length(res.body().size());
  }
  return res;
}

BeastResponse respond(const Router& router, const BeastRequest& request) {
  if (request.version() != 10 && request.version() != 11) {
    return closingResponse(505, "HTTP Version Not Supported");
  }
  try {
    BeastResponse res = toBeast(router.handle(toRequest(request)), request);
    LOG_DEBUG("http", "{} {} -> {}", request.method_string(), redactSecrets(request.target()),
              res.result_int());
    return res;
  } catch (const std::exception& e) {
    LOG_WARN("http", "{} {}: {}", request.method_string(), redactSecrets(request.target()),
             e.what());
  } catch (...) {
    LOG_WARN("http", "{} {}: non-standard exception", request.method_string(),
             redactSecrets(request.target()));
  }
  return toBeast(textResponse(500, "Internal Server Error"), request);
}

std::optional<BeastResponse> readErrorResponse(const boost::beast::error_code& ec) {
  if (ec.category() != bhttp::make_error_code(bhttp::error::need_more).category()) {
    return std::nullopt;  // timeout, reset, aborted: nobody to answer
  }
  unsigned status = 400;
  std::string text;
  switch (static_cast<bhttp::error>(ec.value())) {
    case bhttp::error::end_of_stream:
    case bhttp::error::partial_message:
      return std::nullopt;
    case bhttp::error::header_limit:
      status = 431;
      text = "Request Header Fields Too Large";
      break;
    case bhttp::error::body_limit:
      status = 413;
      text = "Payload Too Large";
      break;
    default:
      text = "Bad Request (" + ec.message() + ")";
      break;
  }
  return closingResponse(status, text);
}

std::string serialize(BeastResponse& response) {
  std::ostringstream os;
  os << response;
  return std::move(os).str();
}

std::string serveBytes(const Router& router, std::string_view bytes, const ServerLimits& limits,
                       std::size_t chunkSize) {
  MemoryReadStream stream(bytes, chunkSize);
  boost::beast::flat_buffer buffer(readBufferLimit(limits));
  std::string out;
  // Every answered request consumed at least one byte: the loop ends.
  for (;;) {
    RequestParser parser;
    applyLimits(parser, limits);
    boost::beast::error_code ec;
    bhttp::read(stream, buffer, parser, ec);
    if (ec) {
      if (auto res = readErrorResponse(ec)) {
        out += serialize(*res);
      }
      break;
    }
    BeastResponse res = respond(router, parser.get());
    out += serialize(res);
    if (res.need_eof()) {
      break;
    }
  }
  return out;
}

}  // namespace jvb::http::wire
