#include "bridge_stats.hpp"

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <string_view>

namespace jvb::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

std::optional<HttpReply> httpGet(const std::string& url, std::chrono::milliseconds timeout,
                                 std::string& why) {
  constexpr std::string_view kScheme = "http://";
  const std::string_view u(url);
  if (u.substr(0, kScheme.size()) != kScheme) {
    why = fmt::format("'{}' is not an http:// URL", url);
    return std::nullopt;
  }
  const std::string_view rest = u.substr(kScheme.size());
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string target =
      slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  unsigned port = 0;
  const std::string_view portText =
      colon == std::string_view::npos ? std::string_view() : authority.substr(colon + 1);
  const auto pr = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(
      std::string(colon == std::string_view::npos ? authority : authority.substr(0, colon)), ec);
  if (portText.empty() || pr.ec != std::errc() || port == 0 || port > 65535 || ec) {
    why = fmt::format("'{}': want http://<IPv4 address>:<port>/<path>", url);
    return std::nullopt;
  }

  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, std::string(authority));
  req.set(bhttp::field::user_agent, "jvb-audio-load");
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  std::string failure;
  bool done = false;
  stream.expires_after(timeout);
  stream.async_connect(
      tcp::endpoint(address, static_cast<uint16_t>(port)), [&](beast::error_code e) {
        if (e) {
          failure = fmt::format("connect: {}", e.message());
          return;
        }
        bhttp::async_write(stream, req, [&](beast::error_code we, std::size_t) {
          if (we) {
            failure = fmt::format("write: {}", we.message());
            return;
          }
          bhttp::async_read(stream, buffer, parser, [&](beast::error_code re, std::size_t) {
            if (re) {
              failure = fmt::format("read: {}", re.message());
              return;
            }
            done = true;
          });
        });
      });
  io.run();
  if (!done) {
    why = fmt::format("GET {}: {}", url, failure.empty() ? "no answer" : failure);
    return std::nullopt;
  }
  auto& res = parser.get();
  return HttpReply{static_cast<int>(res.result_int()), std::move(res.body())};
}

std::optional<nlohmann::json> fetchJson(const std::string& url, std::chrono::milliseconds timeout,
                                        std::string& why) {
  const auto res = httpGet(url, timeout, why);
  if (!res) {
    return std::nullopt;
  }
  if (res->status != 200) {
    why = fmt::format("GET {}: HTTP {}", url, res->status);
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    why = fmt::format("GET {}: not a JSON object", url);
    return std::nullopt;
  }
  return j;
}

HttpProbe::HttpProbe(std::string url, std::chrono::milliseconds interval,
                     std::chrono::milliseconds timeout)
    : url_(std::move(url)), interval_(interval), timeout_(timeout), thread_([this] { loop(); }) {}

HttpProbe::~HttpProbe() {
  stop_.store(true);
  thread_.join();
}

HttpProbe::Results HttpProbe::results() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return results_;
}

void HttpProbe::loop() {
  using Clock = std::chrono::steady_clock;
  auto next = Clock::now();
  while (!stop_.load()) {
    const auto now = Clock::now();
    if (now < next) {
      // Short sleeps: the destructor does not wait a whole interval.
      std::this_thread::sleep_for(
          std::min<Clock::duration>(next - now, std::chrono::milliseconds(20)));
      continue;
    }
    next = now + interval_;
    const int phase = phase_.load();
    if (phase == 0) {
      continue;
    }
    std::string why;
    const auto started = Clock::now();
    const auto res = httpGet(url_, timeout_, why);
    const auto rtt = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started);
    const std::lock_guard<std::mutex> lock(mutex_);
    ++results_.sent;
    if (res && res->status == 200) {
      (phase == 1 ? results_.join : results_.run).add(static_cast<uint64_t>(rtt.count()));
    } else {
      ++results_.failures;
      if (results_.firstFailure.empty()) {
        results_.firstFailure = res ? fmt::format("HTTP {}", res->status) : why;
      }
    }
  }
}

nlohmann::json statsDelta(const std::optional<nlohmann::json>& before,
                          const std::optional<nlohmann::json>& end, const char* block) {
  if (!end || !end->contains(block) || !(*end)[block].is_object()) {
    return nullptr;
  }
  const auto& e = (*end)[block];
  nlohmann::json during = nlohmann::json::object();
  if (before && before->contains(block) && (*before)[block].is_object()) {
    const auto& b = (*before)[block];
    for (const auto& [key, value] : e.items()) {
      const auto it = b.find(key);
      if (it == b.end()) {
        continue;
      }
      if (value.is_number_integer() && it->is_number_integer()) {
        during[key] = value.get<int64_t>() - it->get<int64_t>();
      } else if (value.is_number() && it->is_number()) {
        during[key] = value.get<double>() - it->get<double>();
      }
    }
  }
  return {{"at_end", e}, {"during_run", during}};
}

}  // namespace jvb::load
