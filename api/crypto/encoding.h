// Byte-string encodings used for keys, tokens and sealed values. Binary data travels in
// std::string, as elsewhere in the code base.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace minimcp::crypto {

// Lowercase hex.
std::string hexEncode(std::string_view bytes);
// Accepts upper and lower case; nullopt on odd length or a non-hex character.
std::optional<std::string> hexDecode(std::string_view text);

// RFC 4648 §4 base64 with padding.
std::string base64Encode(std::string_view bytes);
// Strict: no whitespace, length a multiple of 4, padding only at the end.
std::optional<std::string> base64Decode(std::string_view text);

// RFC 4648 §5 base64url without padding: safe in URLs, headers and file names.
std::string base64UrlEncode(std::string_view bytes);
std::optional<std::string> base64UrlDecode(std::string_view text);

}  // namespace minimcp::crypto
