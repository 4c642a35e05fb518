// kubectl-compatible client-side apply: the three-way JSON merge patch that kubectl computes for
// types without a strategic-merge schema (CRDs and every MiniMCP kind).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minimcp::client {

inline constexpr const char* kLastAppliedAnnotation =
    "kubectl.kubernetes.io/last-applied-configuration";

// The object as apply sends it: `desired` with the last-applied annotation set to the compact
// JSON of `desired` itself (without that annotation), the way kubectl records it.
//
// `writeOnly` lists JSON pointers of write-only fields (APIKey "/spec/value"): every read returns
// the annotation, so such a field is left out of it entirely (not even a digest, which would let
// anyone who can read the object test guesses of the value offline). The object itself keeps it:
// the value is sent on every apply, and the server tells an unchanged one apart.
nlohmann::json withLastApplied(const nlohmann::json& desired,
                               const std::vector<std::string>& writeOnly = {});

// The last-applied configuration recorded on `live`, or null when there is none (or it is not
// valid JSON, which kubectl also treats as "none").
nlohmann::json lastAppliedOf(const nlohmann::json& live);

// RFC 7386 merge patch that turns `live` into what the user asked for: fields present in
// `lastApplied` but absent from `modified` are deleted (null), fields of `modified` that differ
// from `live` are set; fields only the server or another writer set are left alone. Arrays are
// replaced whole. An empty object means nothing to send.
//
// A write-only field never appears in `live`, so whenever `modified` has one it is in the patch.
nlohmann::json threeWayMergePatch(const nlohmann::json& lastApplied, const nlohmann::json& live,
                                  const nlohmann::json& modified);

}  // namespace minimcp::client
