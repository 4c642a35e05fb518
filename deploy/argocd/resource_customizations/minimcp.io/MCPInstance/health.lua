-- Argo CD health check for minimcp.io/MCPInstance (argocd-cm key
-- resource.customizations.health.minimcp.io_MCPInstance). Argo CD runs it with the object in the
-- global `obj` and reads the table it returns. It reads the status as kstatus does (Flux), so both
-- tools agree; the one difference is that Argo CD has a Suspended health of its own.
-- Lua 5.1, as Argo CD's interpreter (tests/unit/reconciler/kstatus_test.cpp runs it with lua5.1).
local hs = {}

local function condition(type)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c)
  local reason = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    return reason .. ": " .. c.message
  end
  return reason
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

-- The controller has not looked at the current spec yet.
if obj.status == nil or obj.status.observedGeneration == nil or
    obj.status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe the latest spec"
  return hs
end

local phase = obj.status.phase or ""
if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true"
  return hs
end

local stalled = condition("Stalled")
if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

local reconciling = condition("Reconciling")
if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = describe(reconciling)
  return hs
end

local ready = condition("Ready")
if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

-- Asleep until a request wakes it (spec.idleTimeout): serves on demand.
if phase == "Idle" then
  hs.status = "Healthy"
  hs.message = "Idle: the next request wakes it"
  return hs
end

-- Ended on purpose: the TTL ran out, or the process completed and restartPolicy keeps it down.
if phase == "Expired" then
  hs.status = "Healthy"
  hs.message = "Expired"
  return hs
end
if phase == "Failed" and obj.status.lastTermination ~= nil and
    obj.status.lastTermination.reason == "Completed" then
  hs.status = "Healthy"
  hs.message = "Completed"
  return hs
end

-- A status written without the summary conditions (an older mcpd).
if phase == "Degraded" or phase == "Failed" then
  hs.status = "Degraded"
  hs.message = ready ~= nil and describe(ready) or phase
  return hs
end
hs.status = "Progressing"
hs.message = ready ~= nil and describe(ready) or phase
return hs
