#include "reconciler/sealed_key_resolver.h"

#include <stdexcept>

namespace minimcp::reconciler {

namespace {

KeyState toKeyState(secrets::ResolvedKey::State s) {
  switch (s) {
    case secrets::ResolvedKey::State::Available:
      return KeyState::Available;
    case secrets::ResolvedKey::State::NotFound:
      return KeyState::NotFound;
    case secrets::ResolvedKey::State::TypeMismatch:
      return KeyState::TypeMismatch;
    case secrets::ResolvedKey::State::DecryptFailed:
      break;
  }
  return KeyState::DecryptFailed;
}

}  // namespace

KeyResolution SealedKeyResolver::resolve(const std::string& ns, const std::string& name,
                                         const std::string& typeName) {
  const secrets::ResolvedKey k = keys_.check(ns, name, typeName);
  return KeyResolution{toKeyState(k.state), k.version, k.message, k.reportedByUid,
                       k.reportedFromVersion};
}

std::string SealedKeyResolver::reveal(const std::string& ns, const std::string& name,
                                      const std::string& instance) {
  secrets::ResolvedKey k = keys_.resolve(ns, name, "", actor_, instance);
  if (!k.available()) throw std::runtime_error(k.message);
  return std::move(k.value);
}

}  // namespace minimcp::reconciler
