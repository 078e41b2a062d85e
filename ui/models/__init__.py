"""View-models that are not part of ui/viewmodels.py (the video call's: call.py)."""
