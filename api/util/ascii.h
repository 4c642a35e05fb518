// ASCII case for protocol text (header names, URL schemes, host names, media types, kind and
// condition names): the same answer in any locale, and bytes beyond ASCII left as they are, so
// a fold never turns a name mcpd refuses into one it accepts.
#pragma once

#include <string>
#include <string_view>

namespace minimcp {

// `s` with A-Z as a-z.
std::string asciiLower(std::string_view s);

// `s` with a-z as A-Z.
std::string asciiUpper(std::string_view s);

// Whether `a` and `b` are equal when A-Z and a-z count as the same.
bool equalsIgnoringAsciiCase(std::string_view a, std::string_view b);

// Whether `s` begins with `prefix` when A-Z and a-z count as the same.
bool startsWithIgnoringAsciiCase(std::string_view s, std::string_view prefix);

}  // namespace minimcp
