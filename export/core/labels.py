"""The 1001 ImageNet labels (index 0 "background") that classification modules carry."""

import os

# The asset's file name inside a classification SavedModel (`assets/ImageNetLabels.txt`).
LABELS_FILE_NAME = "ImageNetLabels.txt"
DEFAULT_TOP_K = 5  # how many of the most probable labels classification reports
LABELS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", LABELS_FILE_NAME)


def read_labels(path: str = LABELS_FILE) -> list:
  with open(path, encoding="utf-8") as labels:
    return labels.read().splitlines()
