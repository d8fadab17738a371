#pragma once
// `ordo replay export|verify|state-at|stats|rebuild`: the analyst's and auditor's tool
// (DESIGN §8). argv[1] is "replay", argv[2] the subcommand. Exit codes: 0 success, 1 the log
// does not verify or could not be read, 2 bad usage or a feature not available yet.
namespace ordo::replay {

int replay_main(int argc, char** argv);

}  // namespace ordo::replay
