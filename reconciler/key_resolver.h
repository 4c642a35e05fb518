// KeyResolver: how the reconciler learns about an instance's API key (spec.keyRef → an
// "apikeys" object in the instance's namespace). Kept behind an interface so the tenancy side
// plugs in decryption (AES-256-GCM under the master key, audited) without touching the
// controller.
#pragma once

#include <string>

#include "api/store/store.h"
#include "reconciler/decide.h"

namespace minimcp::reconciler {

class KeyResolver {
 public:
  virtual ~KeyResolver() = default;
  // State and version of APIKey `ns/name` for an instance of MCPType `typeName`. Called on every
  // reconcile of an instance with a keyRef: may decrypt to verify (and cache the outcome per
  // key version). Never throws for a missing or undecryptable key; the message never contains
  // the key.
  virtual KeyResolution resolve(const std::string& ns, const std::string& name,
                                const std::string& typeName) = 0;
  // The plaintext, only right before a launch of instance `ns/instance` (each call is an audited
  // decryption). Throws std::runtime_error (message without the key) when it cannot.
  virtual std::string reveal(const std::string& ns, const std::string& name,
                             const std::string& instance) = 0;
};

// Until decryption is plugged in: a missing "apikeys" object is NotFound, a spec.type other
// than the instance's is TypeMismatch, and anything else DecryptFailed (there is no key to
// decrypt with).
class StoreKeyResolver : public KeyResolver {
 public:
  explicit StoreKeyResolver(store::Store& store) : store_(store) {}
  KeyResolution resolve(const std::string& ns, const std::string& name,
                        const std::string& typeName) override;
  std::string reveal(const std::string& ns, const std::string& name,
                     const std::string& instance) override;

 private:
  store::Store& store_;
};

}  // namespace minimcp::reconciler
