"""Test doubles shared by several test areas."""
