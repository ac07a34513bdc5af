CONTAINER_ID = "c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
POD_UID = "11111111-2222-3333-4444-555555555555"
# event.action of a write to an existing file: "open" when seen at file_open (write-intent open),
# "modification" when seen at path_truncate/path_chmod (the ECS writer names the action after the hook).
MODIFY_ACTIONS = ["open", "modification"]
