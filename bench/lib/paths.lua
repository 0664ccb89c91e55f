-- wrk: a random path from PATHS (comma-separated) for every request.
-- PHASE=s (optional): every s seconds the routes get new random weights, as real
-- traffic's mix drifts; without it the mix is uniform and steady.
local paths = {}
for p in string.gmatch(os.getenv("PATHS") or "/", "[^,]+") do paths[#paths + 1] = p end
local phase = tonumber(os.getenv("PHASE") or "0")
local weights, total, current = {}, 0, -1
local n = 0

local function reweigh(k)
  math.randomseed(k * 7919 + 17)
  total = 0
  for i = 1, #paths do weights[i] = 0.2 + math.random() * 1.8; total = total + weights[i] end
  math.randomseed(os.time() + n)
end

local function pick()
  if phase <= 0 then return paths[math.random(#paths)] end
  local k = math.floor(os.time() / phase)
  if k ~= current then current = k; reweigh(k) end
  local r = math.random() * total
  for i = 1, #paths do r = r - weights[i]; if r <= 0 then return paths[i] end end
  return paths[#paths]
end

request = function()
  n = n + 1
  local p = pick()
  if p == "/users/" then p = p .. math.random(100000) end
  if p == "/cache" then p = p .. "?k=" .. n end
  return wrk.format("GET", p)
end
