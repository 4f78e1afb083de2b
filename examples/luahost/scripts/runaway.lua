-- runaway.lua: a script that never stops asking for memory; only the host's
-- limit (the arena's capacity) ends it, with "not enough memory".
local t, i = {}, 0
while true do
	i = i + 1
	t[i] = string.rep("x", 1000) .. i
end
