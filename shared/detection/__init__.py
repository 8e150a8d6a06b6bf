"""Object detection: COCO data with exact 64-bit ids, pycocotools scoring, and the answer.json submission."""
