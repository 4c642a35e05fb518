#include "reconciler/key_resolver.h"

#include <stdexcept>

#include "reconciler/informer.h"

namespace minimcp::reconciler {

KeyResolution StoreKeyResolver::resolve(const std::string& ns, const std::string& name,
                                        const std::string& typeName) {
  KeyResolution r;
  auto key = store_.get(kApiKeys, ns, name);
  if (!key) {
    r.state = KeyState::NotFound;
    r.message = "APIKey \"" + name + "\" not found in namespace \"" + ns + "\"";
    return r;
  }
  const auto spec = key->value("spec", nlohmann::json::object());
  const std::string keyType = spec.is_object() ? spec.value("type", "") : "";
  if (!keyType.empty() && keyType != typeName) {
    r.state = KeyState::TypeMismatch;
    r.message = "APIKey \"" + name + "\" is for type \"" + keyType + "\", not \"" + typeName + "\"";
    return r;
  }
  r.state = KeyState::DecryptFailed;
  r.message = "APIKey \"" + name + "\" cannot be decrypted: no key decryption is configured";
  return r;
}

std::string StoreKeyResolver::reveal(const std::string& ns, const std::string& name,
                                     const std::string& /*instance*/) {
  throw std::runtime_error("APIKey \"" + ns + "/" + name +
                           "\" cannot be decrypted: no key decryption is configured");
}

}  // namespace minimcp::reconciler
