"""Shot tags: vocabulary, zero-shot and audio scores, late fusion, shot features, few-shot
classifiers, editors' labels and active learning (Netflix's Video Annotator)."""
