//! Sweeps: an experiment file's axes × seeds → runs in parallel → result tables; resume;
//! shards; repro bundles. (Being built.)
