"""Standards: named, versioned templates of tenant settings, checked, alerted on and remediated."""
