// gzip for large response bodies, as kube-apiserver compresses responses over 128 KiB for
// clients that send `Accept-Encoding: gzip` (client-go and kubectl do). Lists are compressed
// once per change and served from the response cache.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace minimcp::server {

// Bodies smaller than this go out as they are (kube-apiserver's threshold).
inline constexpr size_t kCompressAbove = 128 * 1024;

// Whether an Accept-Encoding header value allows gzip (a q=0 refuses it).
bool acceptsGzip(std::string_view acceptEncoding);

// The gzip (RFC 1952) encoding of `data`, at zlib's fastest level.
std::string gzipCompress(std::string_view data);
// The inverse; throws std::runtime_error on malformed input.
std::string gzipDecompress(std::string_view data);

}  // namespace minimcp::server
