"""The library every competition builds on. It knows no competition: a competition folder calls it (``from
shared.vision.train import VisionParts``), never the other way round. Its groups, and what each module is for:

The contract — what a competition declares and a model is
    spec          CompetitionSpec (files, columns, metric, folds, submission) and Recipe (features, model, settings)
    models        the fold-model interface (fit / predict), FoldPipeline, progress of a run
    metrics       rmsle, rmse, mae, mape, smape, r2, accuracy, f1(_macro/_micro), mcc, qwk, logloss, auc, gini,
                  map; ``register`` for a competition's own
    config        settings: declarations (Range, Choice, Text, ...) beside defaults, ``--set`` parsing, resolving
    errors        UserError: one line, what is wrong and what to do

The k-fold engine — folds, OOF, blends, submissions
    runner        the k-fold loop for any model: fit per fold, predict OOF and test, score, save
    cv            fold assignment (kfold, stratified, group, time), folds.csv
    tables        the table outputs (a row per id): scoring, averaging, writing OOF / test / submission
    ensemble      blends of finished runs from their OOF (mean, rank, weights, hill climbing, stacking)
    auto          a recipe of recipes: members on the same folds within a budget, blended nested
    submission    building and checking a submission against the sample, written atomically
    parallel      folds side by side on Ray

The run folder — what a run writes and proves
    runs          the run directory contract: config.yaml, metrics.json, loading a run back
    results       FoldResults: what a finished k-fold loop hands its outputs to write
    log           the run's logger (every module logs through it; the run folder's log.txt is one handler)
    fingerprint   a fingerprint of the inputs, so a resumed or merged run proves it sees the same data
    io            atomic writes, CSV reading with one-line errors
    folders       which folders a command may write into (markers), and never removing what it did not create

Presentation — what people look at
    report        report.html; plots: the PNGs; compare: runs side by side; look: a glance at the data;
    settings      ``run.py --list``: every setting with its default, range and meaning

Kaggle
    kaggle_io     download and submit with the official client; kernel: offline kernel bundles;
    notebook      the notebooks' cells; cli: the scripts' shared argument handling; adversarial: train/test shift

Models and pipelines, by kind of data
    tabular/      feature helpers, fold-fitted steps, the model zoo (LightGBM, CatBoost, XGBoost, forests, linear,
                  MLPs, AutoGluon), fitting (probe-then-refit, time limits, the small-net loop), the generic CSV
                  path and the public suite
    vision/       image datasets, augmentation presets, nets, the device-resident path, TTA, VisionModel and the
                  VisionParts a competition fills (net, loss, train_epoch, augmentations, TTA views); training:
                  the torch loop that images and detection share (Epoch, Trainer.fit, checkpoints and resume)
    detection/    COCO data, torchvision detectors, DetectionModel and DetectionParts, WBF, COCO scoring
    distributed   torchrun (DDP) helpers
"""
