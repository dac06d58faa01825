#include "sctp/dcep.hpp"

namespace jvb::sctp::dcep {

namespace {

uint16_t readU16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

uint32_t readU32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

void writeU16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

}  // namespace

bool isKnownChannelType(uint8_t type) {
  switch (type) {
    case 0x00:
    case 0x80:
    case 0x01:
    case 0x81:
    case 0x02:
    case 0x82:
      return true;
    default:
      return false;
  }
}

std::optional<Open> parseOpen(std::span<const uint8_t> message) {
  // 0: type, 1: channel type, 2-3: priority, 4-7: reliability parameter,
  // 8-9: label length, 10-11: protocol length, then label and protocol.
  if (message.size() < kOpenHeaderSize || message[0] != kOpen || !isKnownChannelType(message[1])) {
    return std::nullopt;
  }
  const size_t labelLength = readU16(message, 8);
  const size_t protocolLength = readU16(message, 10);
  if (message.size() - kOpenHeaderSize < labelLength + protocolLength) {
    return std::nullopt;
  }
  Open open;
  open.channelType = static_cast<ChannelType>(message[1]);
  open.priority = readU16(message, 2);
  open.reliabilityParameter = readU32(message, 4);
  const auto* label = message.data() + kOpenHeaderSize;
  open.label.assign(label, label + labelLength);
  open.protocol.assign(label + labelLength, label + labelLength + protocolLength);
  return open;
}

bool isAck(std::span<const uint8_t> message) {
  return message.size() == 1 && message[0] == kAck;
}

std::optional<uint8_t> messageType(std::span<const uint8_t> message) {
  if (message.empty()) {
    return std::nullopt;
  }
  return message[0];
}

std::optional<std::vector<uint8_t>> buildOpen(const Open& open) {
  if (open.label.size() > 0xffff || open.protocol.size() > 0xffff) {
    return std::nullopt;
  }
  std::vector<uint8_t> out;
  out.reserve(kOpenHeaderSize + open.label.size() + open.protocol.size());
  out.push_back(kOpen);
  out.push_back(static_cast<uint8_t>(open.channelType));
  writeU16(out, open.priority);
  writeU16(out, static_cast<uint16_t>(open.reliabilityParameter >> 16));
  writeU16(out, static_cast<uint16_t>(open.reliabilityParameter));
  writeU16(out, static_cast<uint16_t>(open.label.size()));
  writeU16(out, static_cast<uint16_t>(open.protocol.size()));
  out.insert(out.end(), open.label.begin(), open.label.end());
  out.insert(out.end(), open.protocol.begin(), open.protocol.end());
  return out;
}

}  // namespace jvb::sctp::dcep
