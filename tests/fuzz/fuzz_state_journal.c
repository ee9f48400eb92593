/*
 * libFuzzer: any bytes as a host's state.json (the agent's reader) and as
 * an environment's journal (the controller's readers: runs, the open
 * run, the rollback target, history).
 */
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "journal.h"
#include "state.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256], root[256], before[65];
	struct agent_state st;
	json_t *runs = NULL, *open_run;
	struct buf table;
	struct journal j;

	snprintf(root, sizeof(root), "%s/root", fuzz_dir());
	mkdir(root, 0700);
	fuzz_file(path, sizeof(path), "root/state.json", data, size);
	if (state_load(&st, root, NULL) == 0)
		state_record(&st, "1.0.0", "d-fuzz", st.deployment_id);
	state_release(&st);

	fuzz_file(path, sizeof(path), "env.journal", data, size);
	journal_file(&j, path);
	if (journal_runs(&runs, &j, NULL) == 0)
		json_decref(runs);
	json_decref(open_run = journal_open_run(&j, NULL));
	journal_release_before(before, sizeof(before), &j, "1.0.0");
	buf_init(&table, 1024 * 1024);
	journal_history(&table, &j, NULL);
	buf_release(&table);
	return 0;
}
