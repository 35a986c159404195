-- Nested groups and reboot policies. parent is '' for a group directly
-- below "all" (the implicit root); no foreign key, so that the store can
-- refuse to delete a group with children with a message instead of a
-- constraint error. reboot_policy is the group's own ('' inherits).
ALTER TABLE host_groups ADD COLUMN parent TEXT NOT NULL DEFAULT '';
ALTER TABLE host_groups ADD COLUMN reboot_policy TEXT NOT NULL DEFAULT '';
CREATE INDEX host_groups_parent ON host_groups (parent);
