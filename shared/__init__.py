"""The engine shared by every competition: specs, folds, the k-fold runner, metrics, submissions, runs."""
