"""Who may use which HSM key for what: the `hsm_keys` of every task's
manifest (label:op+op). A task with the kernel capability (the shell: the
operator at the console) administers the HSM and may use every key.
Plain Python, tested on the host."""
OPERATIONS = ("sign", "verify", "encrypt", "decrypt", "wrap", "unwrap")


class Policy:
    def __init__(self, manifests):
        self.rules = {}             # task name -> {label: set of ops}
        self.operators = set()
        for m in manifests:
            if m.kernel:
                self.operators.add(m.name)
            self.rules[m.name] = {}
            for k in m.hsm_keys:
                self.rules[m.name][k["label"]] = set(k["ops"])

    def allows(self, task, op, label=None):
        """None if `task` may do `op` (on key `label`), else why not."""
        if task in self.operators:
            return None
        if op not in OPERATIONS:
            return "%s is for the operator only" % op
        ops = self.rules.get(task, {}).get(label)
        if ops is None:
            return "task %s has no policy for key %s" % (task, label)
        if op not in ops:
            return "task %s may not %s with key %s" % (task, op, label)
        return None
